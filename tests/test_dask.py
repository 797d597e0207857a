"""GridSearchCV over a process's parameters on a dask.distributed cluster.

joblib's dask backend sends each fit of the search to a worker of the
cluster; with a fixed ``random_state`` every fit is the same wherever it
runs, so the search's scores equal those of a local, sequential search.
"""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from adaptnoise import FlowMatchingGenerator

distributed = pytest.importorskip("dask.distributed")

GRID = {"process__beta_max": [10.0, 20.0]}
TINY = dict(
    process="ou",
    hidden_layer_sizes=(16,),
    fourier_features=0,
    max_iter=30,
    batch_size=64,
    n_steps=4,
    random_state=0,
)


def _search(n_jobs):
    return GridSearchCV(FlowMatchingGenerator(**TINY), GRID, cv=2, n_jobs=n_jobs)


def test_grid_search_on_a_local_cluster_matches_the_local_search():
    X = np.random.default_rng(0).normal(size=(200, 2))
    local = _search(n_jobs=1).fit(X)
    # Workers as threads of this process: no interpreter to start per worker,
    # so the cluster is up in well under a second.
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
        joblib.parallel_backend("dask"),
        distributed.get_task_stream(client) as tasks,
    ):
        remote = _search(n_jobs=2).fit(X)
        cluster_workers = set(client.scheduler_info()["workers"])
    # The fits ran as tasks of the cluster's workers (how the scheduler shares
    # four short fits between two of them depends on timing).
    workers = {task["worker"] for task in tasks.data}
    assert workers and workers <= cluster_workers
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(remote.cv_results_[key], local.cv_results_[key])
    assert np.isfinite(local.cv_results_["mean_test_score"]).all()
    assert remote.best_params_ == local.best_params_
