"""The stage commands: call the library, print what it did, turn the outcome into an exit status.

The top floor. Every ``run_*`` function takes the stage's config, calls the stage's library
function (which returns a result object and raises :class:`~jazzcnn.core.errors.JazzcnnError` on
bad input), prints a summary on stdout and ``error: ...`` on stderr, and returns the exit status:

====  ==========================================================================================
0     done
1     done, but some files failed (listed), a check found damage, or the model was not published
2     bad input or settings: nothing was done (the message names the file, line or setting)
3     not enough disk space for the download
====  ==========================================================================================
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

import numpy as np
import pandas as pd

from jazzcnn.core.errors import JazzcnnError, NotEnoughSpaceError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_SPACE = 0, 1, 2, 3


def _error(e: BaseException) -> None:
    print(f"error: {e}", file=sys.stderr)


@contextmanager
def _errors_to_status(status: list[int], special: dict[type, int] | None = None):
    """Turn the library's errors into ``error: ...`` and exit status 2 (3 for a full disk, or
    what ``special`` maps an error type to)."""
    try:
        yield
    except JazzcnnError as e:
        _error(e)
        codes = {NotEnoughSpaceError: EXIT_NO_SPACE, **(special or {})}
        status.append(next((code for kind, code in codes.items() if isinstance(e, kind)), EXIT_USAGE))


def _human(n: float) -> str:
    from jazzcnn.acquire.download import _human as human

    return human(n)


# ------------------------------------------------------------------------------------------------
# acquire


def run_download(cfg) -> int:
    """``jazzcnn download``: print the scrape notes, the size preflight and a summary of every file."""
    from jazzcnn.acquire.archive import resolve_base_url
    from jazzcnn.acquire.download import download, preflight_text

    def show_plan(res) -> None:
        if res.scraped is not None:
            for note in res.scraped.notes:
                print(note)
            for ident, why in res.scraped.failed:
                print(f"failed: {ident}: {why}")
            for ident, name, why in res.scraped.refused:
                print(f"refused: {ident}/{name}: {why}")
            for p in res.problems:
                print(f"warning: {p}")
            print(f"{cfg.manifests_dir / 'tracks.csv'}: {len(res.scraped.rows)} rows "
                  + (f"scraped from {len(res.scraped.identifiers)} items" if cfg.dataset in ("niven", "ia")
                     else f"catalogued from {res.base_url}") + f", {res.tracks_rows} rows in all")
        print(preflight_text(res.plan), flush=True)

    if cfg.scrape and cfg.dataset in ("niven", "ia"):
        print(f"scraping collection {cfg.collection!r} from {resolve_base_url(cfg.ia_base_url)} (format {cfg.format!r})",
              flush=True)
    elif cfg.scrape:
        print(f"cataloguing the {cfg.dataset} data set", flush=True)
    status: list[int] = []
    with _errors_to_status(status):
        res = download(cfg, on_plan=show_plan)
    if status:
        return status[0]
    if res.dry_run:
        print("dry run: nothing downloaded")
    for w in res.warnings:
        print(f"warning: {w}")
    got = sum(r.bytes_received for r in res.results)
    print(f"summary: {res.count('downloaded')} downloaded ({_human(got)}), {res.count('skipped')} already verified, "
          f"{res.count('failed')} failed")
    if res.problems:
        print(f"metadata problems ({len(res.problems)}):")
        for p in res.problems:
            print(f"  {p}")
    if res.failed:
        print(f"failures ({len(res.failed)}):")
        for r in res.failed:
            print(f"  {r.identifier}/{r.file}: {r.reason}")
        return EXIT_FAILED
    return EXIT_OK


def run_validate(cfg) -> int:
    """``jazzcnn validate``: print missing and corrupt files separately."""
    from jazzcnn.acquire.validate import validate

    status: list[int] = []
    with _errors_to_status(status):
        rep = validate(cfg)
    if status:
        return status[0]
    from jazzcnn.acquire.manifests import read_dataset_info

    what = f"{cfg.format!r} " if read_dataset_info(cfg.manifests_dir).formats else ""
    print(f"validated {rep.checked} {what}files: {rep.ok} ok, {len(rep.missing)} missing, {len(rep.corrupt)} corrupt")
    for title, rows in (("missing", rep.missing), ("corrupt", rep.corrupt)):
        if rows:
            print(f"{title} ({len(rows)}):")
            for key, why in rows:
                print(f"  {key}: {why}")
    if rep.missing or rep.corrupt:
        print("rerun `make download` to fetch missing files and replace corrupt ones")
        return EXIT_FAILED
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# preprocess


def run_preprocess(cfg) -> int:
    """``jazzcnn preprocess``: print what was processed (or, with ``--check``, what was found)."""
    from jazzcnn.preprocess.pipeline import preprocess

    status: list[int] = []
    with _errors_to_status(status):
        res = preprocess(cfg)
    if status:
        return status[0]
    if res.check is not None:
        rep = res.check
        print(f"checked {rep.shards_checked} shard(s) of {res.shard_dir} (size and SHA-256): "
              f"{len(rep.damaged)} damaged or missing file(s)")
        for name, why in rep.damaged:
            print(f"  {name}: {why} (set aside as {name}.damaged)")
        if rep.stale_views:
            print(f"rebuilt from the commit records: {', '.join(rep.stale_views)}")
        if res.to_process:
            print(f"the next `make preprocess` will process {len(res.to_process)} file(s):")
            redo = set(rep.files_to_redo)
            for ident, name in res.to_process:
                print(f"  {ident}/{name} ({'its shard was damaged' if (ident, name) in redo else 'not processed yet'})")
        return EXIT_FAILED if rep.damaged else EXIT_OK
    if res.processed == 0:
        print(f"preprocess: nothing to do ({res.selected} files already processed"
              + (f", {res.failed_before} failed earlier: see {res.shard_dir / 'failures.csv'}" if res.failed_before else "")
              + ")")
        return EXIT_OK
    n_failed = len(res.failures)
    print(f"preprocess: {res.processed - n_failed} files ok, {n_failed} failed; {res.audio_s / 3600:.2f} h audio, "
          f"{res.kept_s / 3600:.2f} h kept, {res.speech_s / 3600:.2f} h speech removed; "
          f"{res.audio_s / max(res.wall_s, 1e-9):.0f}x real time ({res.audio_s / max(res.cpu_s, 1e-9):.0f}x per core); "
          f"shards in {res.shard_dir}")
    if res.audit is not None:
        print(f"commentary audit: {res.audit.index} ({res.audit.spans} removed spans to listen to)")
    if n_failed:
        print(f"preprocess: failures listed in {res.shard_dir / 'failures.csv'}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def run_audit(cfg) -> int:
    """``jazzcnn audit``: write the commentary audit pages and say where they are."""
    from jazzcnn.preprocess.audit import write_audit

    status: list[int] = []
    with _errors_to_status(status):
        res = write_audit(cfg.data_dir, cfg.manifests_dir, cfg.audit_dir)
    if status:
        return status[0]
    print(f"commentary audit: {res.index} ({res.tape_pages} tapes, {res.spans} removed spans)")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------
# train


def run_train(cfg) -> int:
    """``jazzcnn train``: train, then print where the model is and its best validation loss."""
    from jazzcnn.train.checkpoints import CheckpointError
    from jazzcnn.train.training import train

    status: list[int] = []
    # Trained, but the best checkpoint did not check out: a failure, not bad input.
    with _errors_to_status(status, {CheckpointError: EXIT_FAILED}):
        res = train(cfg)
    if status:
        return status[0]
    s = res.summary
    best = "none" if s["best_val_loss"] is None else f"{s['best_val_loss']:.4f}"
    print(f"model written to {res.model_path} (best val_loss {best} at epoch {s['best_epoch']} of {s['epochs_run']})")
    return EXIT_OK


def run_presets(cfg) -> int:
    """``jazzcnn presets``: a table of the presets, measured on models built for it; with
    ``--preset NAME`` also that preset's layer table and its documented sources."""
    from jazzcnn.train.models import PRESETS, describe_preset

    if cfg.preset is not None and cfg.preset not in PRESETS:
        _error(f"unknown preset {cfg.preset!r}; choose one of {', '.join(PRESETS)}")
        return EXIT_USAGE
    names = [cfg.preset] if cfg.preset else list(PRESETS)
    rows = [describe_preset(n, n_classes=cfg.n_classes, sample_rate=cfg.sample_rate) for n in names]
    table = pd.DataFrame({
        "preset": [r.name for r in rows],
        "seed": [r.seed.split("_")[0] if r.seed != "ours" else "ours" for r in rows],
        "clip [s]": [f"{r.clip_seconds:g}" for r in rows],
        "input": [str(r.input_shape) for r in rows],
        "image (bands, frames, 1)": [str(r.image_shape) for r in rows],
        "front end": [r.front_end for r in rows],
        "trainable": [f"{r.trainable:,}" for r in rows],
        "total": [f"{r.total:,}" for r in rows],
        "optimiser": [r.optimizer for r in rows],
    })
    print(f"presets built for {cfg.n_classes} eras at {cfg.sample_rate} Hz (parameters counted on the built models; "
          f"seed = file of ../shared/seeds/):")
    with pd.option_context("display.max_rows", 100, "display.width", 250, "display.max_colwidth", 60):
        print(table.to_string(index=False))
    if cfg.preset:
        r = rows[0]
        layers = pd.DataFrame({
            "layer": [x.name for x in r.layers], "type": [x.kind for x in r.layers],
            "output shape": [str(x.output_shape) for x in r.layers],
            "parameters": [f"{x.params:,}" for x in r.layers], "trainable": [f"{x.trainable:,}" for x in r.layers],
        })
        print(f"\nlayers of {r.name} (seed file {r.seed}):")
        with pd.option_context("display.max_rows", 500, "display.width", 250):
            print(layers.to_string(index=False))
        p = PRESETS[r.name]
        if p.hparams:
            print("\nhyperparameters (--hparams NAME=VALUE,...): "
                  + ", ".join(f"{k}={v:g}" for k, v in p.hparams.items()))
        if p.tune:
            print("chosen by validation unless fixed (--tune-grid replaces them): "
                  + ", ".join(f"{k} in {{{', '.join(f'{x:g}' for x in v)}}}" for k, v in p.tune.items()))
        print(f"\n{p.doc}")
    return EXIT_OK


def run_score(cfg) -> int:
    """``jazzcnn score``: score the held-out tapes, print the headline numbers and the report path."""
    from jazzcnn.train.scoring import score

    status: list[int] = []
    with _errors_to_status(status):
        res = score(cfg)
    if status:
        return status[0]
    m = res.metrics
    rho = m["spearman_year_vs_expected_era_index"]
    print(f"{m['n_test_tapes']} {cfg.split} tapes, {m['n_test_clips']} clips: "
          f"clip accuracy {m['clip']['accuracy']:.3f} (baseline {m['baseline_clip']['accuracy']:.3f}), "
          f"tape accuracy {m['tape']['accuracy']:.3f} (baseline {m['baseline_tape']['accuracy']:.3f}), "
          f"Spearman rho {rho['rho']:.3f}")
    iv = m["intervals"]
    if iv and iv["tape_accuracy"][0] is not None:
        print(f"{iv['confidence']:.0%} interval of tape accuracy: {iv['tape_accuracy'][0]:.3f} to {iv['tape_accuracy'][1]:.3f} "
              f"({iv['n_resamples']} resamples of {iv['n_groups']} test groups)")
    print(f"report: {res.report}")
    return EXIT_OK


def run_crossval(cfg) -> int:
    """``jazzcnn crossval``: cross-validate, print the CNN's and the baselines' scores and the report path."""
    from jazzcnn.train.checkpoints import CheckpointError
    from jazzcnn.train.crossval import crossval

    status: list[int] = []
    with _errors_to_status(status, {CheckpointError: EXIT_FAILED}):
        res = crossval(cfg)
    if status:
        return status[0]
    m = res.metrics
    print(f"{m['n_tapes']} tapes in {m['folds']} folds by {m['group']}"
          + (f", band-limited to {m['bandlimit_hz']:g} Hz" if m.get("bandlimit_hz") else "")
          + f" ({len(res.trained)} fold(s) trained now):")
    rows = ([(f"CNN ({m['preset']})", m)] + [(f"CNN ({k})", v) for k, v in (m.get("compared") or {}).items()]
            + [(f"{k} baseline", v) for k, v in m["baselines"].items()])
    for name, ev in rows:
        lo, hi = ev["tape_accuracy_exact_interval"]
        print(f"  {name:<22s} tape accuracy {ev['tape']['accuracy']:.3f} ({lo:.3f} to {hi:.3f}), "
              f"clip accuracy {ev['clip']['accuracy']:.3f}, tape macro-F1 {ev['tape']['macro_f1']:.3f}")
    comp = m.get("comparison", {}).get("cnn_vs_linear")
    if comp:
        print(f"  CNN vs linear on the same tapes: exact McNemar p = {comp['mcnemar']['p_value']:.3g}")
    print(f"report: {res.report}")
    return EXIT_OK


def run_predict(cfg) -> int:
    """``jazzcnn predict``: print era probabilities for a whole file, then per clip."""
    from pathlib import Path

    from jazzcnn.train.predict import predict_file

    if cfg.audio is None:
        _error("--audio FILE is required")
        return EXIT_USAGE
    if not Path(cfg.audio).exists():
        _error(f"audio file {cfg.audio} not found")
        return EXIT_USAGE
    status: list[int] = []
    with _errors_to_status(status):
        pred = predict_file(Path(cfg.audio), cfg.runs_dir / cfg.run)
    if status:
        return status[0]
    print(f"{cfg.audio}: {pred.cleaned.duration_s:.1f} s decoded, {len(pred.cleaned.segments)} music segment(s), "
          f"{len(pred.clips)} clip(s) classified with run {cfg.run}")
    print("whole file:")
    for k in np.argsort(-pred.probabilities):
        print(f"  {pred.eras[k]:<24s} {pred.probabilities[k]:.3f}")
    print("per clip:")
    with pd.option_context("display.max_rows", 200, "display.width", 200, "display.float_format", "{:.3f}".format):
        print(pred.clips.to_string(index=False))
    if cfg.output:
        from jazzcnn.core.files import atomic_write_text

        atomic_write_text(Path(cfg.output), pred.clips.to_csv(index=False))
        print(f"per-clip probabilities written to {cfg.output}")
    return EXIT_OK


def run_serve(cfg) -> int:
    """``jazzcnn serve``: load the run, say where the page is, serve until Ctrl-C."""
    from jazzcnn.serve import check_host, make_app

    status: list[int] = []
    with _errors_to_status(status):
        check_host(cfg.host, cfg.allow_remote)
        app = make_app(cfg.runs_dir / cfg.run, max_upload_bytes=int(cfg.max_upload_mb * 1_000_000))
    if status:
        return status[0]
    import uvicorn

    print(f"serving run {cfg.run} at http://{cfg.host}:{cfg.port}/ (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning")
    return EXIT_OK
