"""The library's ways into classification: a request (what ``rnnexport classify`` takes) planned once and run
by its engine; and the two engines called with their arguments directly (benchmarks, tests), planned the same
way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..runtimes.base import Runtime
from ..verification.parity import Tolerance
from .local_engine import run_local
from .options import DEFAULT_BLOCKSIZE, ClassifyOptions, ClassifyRequest, DaskOptions
from .plan import plan_classify
from .summary import ClassifySummary


def classify_file(request: ClassifyRequest, on_rows: Callable[[int], None] | None = None) -> ClassifySummary:
    """Classify ``request.input_path`` into ``request.output_path`` with the local or the dask engine, after
    checking the whole request (plan.plan_classify). ``on_rows(count)`` follows the rows written.

    Raises OptionError (a bad option), InputError (bad CSV or Parquet, columns), ArtifactError/CheckpointError
    (model), RnnExportError (dask missing or unreachable); the output appears only when complete.
    """
    plan = plan_classify(request)
    if plan.dask is None:
        return run_local(plan, on_rows)
    from .dask_engine import run_dask

    return run_dask(plan, on_rows)


def classify_local(input_path: str, output_path: str, runtime: Runtime, options: ClassifyOptions,
                   reference: Runtime | None = None, on_rows: Callable[[int], None] | None = None,
                   tolerance: Tolerance | None = None) -> ClassifySummary:  # fmt: skip
    """The local engine with an opened ``runtime`` (any Runtime: benchmark baselines too). With a ``reference``
    runtime (eager float64), every row is also compared with it by the parity rule (``tolerance``, default
    parity.Tolerance()) into ``summary.check``. Raises as :func:`classify_file`."""
    check = (tolerance or Tolerance()) if reference is not None else None
    request = ClassifyRequest(input_path, output_path, None, options, check=check)
    return run_local(plan_classify(request, runtime, reference), on_rows)


def classify_dask(input_path: str, output_path: str, options: ClassifyOptions, *, model_dir: Path,
                  runtime: str = "onnx", verify_hash: bool = True, scheduler: str | None = None,
                  blocksize: str | int = DEFAULT_BLOCKSIZE, workers: int | None = None,
                  on_rows: Callable[[int], None] | None = None) -> ClassifySummary:  # fmt: skip
    """The Dask engine on ``model_dir``'s ``runtime`` (see dask_engine.run_dask and options.DaskOptions): the same
    output as the local engine, the same errors. Raises as :func:`classify_file`."""
    request = ClassifyRequest(input_path, output_path, Path(model_dir), options, runtime, verify_hash=verify_hash,
                              engine="dask", dask=DaskOptions(scheduler, blocksize, workers))  # fmt: skip
    return classify_file(request, on_rows)
