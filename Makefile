# jazzcnn: every target runs the `jazzcnn` command line from the project's own virtual
# environment, created on first use. Variables below are the documented settings; each one is
# also a flag of the matching `jazzcnn <stage> --help`. Unset variables use the stage's default.

PYTHON      ?= python3
VENV        ?= .venv
# Exact package versions the suite passed with; empty: the newest that pyproject.toml allows.
CONSTRAINTS ?= constraints.txt
JAZZCNN     := $(VENV)/bin/jazzcnn

# --- data set --------------------------------------------------------------------------
# niven (default), ia (any Internet Archive collection: COLLECTION=...), fma, gtzan, folder.
DATASET     ?= niven
FMA_SUBSET  ?=
SOURCE_DIR  ?=
SOURCE_URL  ?=
SOURCE_SHA1 ?=
LABELS      ?=
GTZAN_SPLIT ?=
CLASSES     ?=
# Each data set gets folders of its own (the Niven collection keeps data/, manifests/, runs/, reports/).
DSKEY       = $(strip $(if $(filter fma,$(DATASET)),fma-$(or $(FMA_SUBSET),small),$(if $(filter ia,$(DATASET)),ia-$(COLLECTION),$(DATASET))))
DSDIR       = $(if $(filter niven,$(DATASET)),,/$(DSKEY))
# --- acquire ---------------------------------------------------------------------------
COLLECTION  ?= davidwnivenjazz
FORMAT      ?= VBR MP3
LIMIT       ?=
ERAS        ?=
WORKERS     ?=
DATA_DIR    ?= data$(DSDIR)
MANIFESTS   ?= manifests$(DSDIR)
IA_BASE_URL ?=
DRY_RUN     ?=
MAX_EXAMPLES ?=
# --- preprocess ------------------------------------------------------------------------
TRIM_HEAD   ?=
TRIM_TAIL   ?=
VAD         ?=
SHARD_BYTES ?=
MIN_SEGMENT ?=
# --- train / score ---------------------------------------------------------------------
RUN         ?= jazzcnn
PRESET      ?=
HPARAMS     ?=
TUNE        ?=
TUNE_GRID   ?=
CONFIG      ?=
GROUP       ?=
SPLIT       ?=
STRADDLE    ?=
CLIP_SECONDS ?=
EPOCHS      ?=
BATCH_SIZE  ?=
LEARNING_RATE ?=
SEED        ?=
STEPS_PER_EPOCH ?=
PATIENCE    ?=
BALANCE     ?=
BANDLIMIT_HZ ?=
# --- cross-validation ------------------------------------------------------------------
CV_RUN      ?= crossval
FOLDS       ?=
COMPARE     ?=
CROSSVAL_ARGS ?=
RUNS_DIR    ?= runs$(DSDIR)
REPORTS_DIR ?= reports$(DSDIR)
AUDIO       ?=
PORT        ?= 8000
# Any other setting: the stage's flags verbatim, e.g. TRAIN_ARGS="--val-fraction 0.2"
DOWNLOAD_ARGS ?=
PREPROCESS_ARGS ?=
TRAIN_ARGS  ?=
SCORE_ARGS  ?=
SERVE_ARGS  ?=
DEMO_ARGS   ?=

# Paths may hold spaces, apostrophes and non-ASCII letters. In recipes every value is shell-quoted
# with $(call q,VALUE) ('it'\''s'); in target and prerequisite names spaces are escaped with
# $(call esc,VALUE), as make needs.
empty :=
space := $(empty) $(empty)
q = '$(subst ','\'',$(1))'
esc = $(subst $(space),\$(space),$(1))
# $(call opt,--flag,$(VAR)) -> --flag 'value' when VAR is set, nothing otherwise
opt = $(if $(strip $(2)),$(1) $(call q,$(strip $(2))))

COMMON      = --data-dir $(call q,$(DATA_DIR)) --manifests-dir $(call q,$(MANIFESTS))
# Written by preprocess only when every selected file is done (an interrupted run leaves a valid,
# newer index.csv, so the index cannot tell make that the work is finished).
SHARDS_DONE = $(call esc,$(DATA_DIR)/shards/complete.json)
VERIFIED    = $(call esc,$(DATA_DIR)/audio/verified.csv)
MODEL       = $(call esc,$(RUNS_DIR)/$(RUN)/model.keras)
REPORT      = $(call esc,$(REPORTS_DIR)/$(RUN)/report.md)
TRACKS      = $(call esc,$(MANIFESTS)/tracks.csv)
# The class list training depends on: eras.csv for data sets labelled by years, classes.csv otherwise.
CLASS_CSV   = $(call esc,$(MANIFESTS)/$(if $(filter niven ia,$(DATASET)),eras.csv,classes.csv))
# --eras of download, validate and preprocess: eras, or the classes of a data set with its own labels
SELECT      = $(call opt,--eras,$(or $(ERAS),$(CLASSES)))

# make deletes the target of an interrupted recipe; these are written atomically by the stages
# themselves, so make must keep them (deleting complete.json would be harmless: the next run
# writes it again after finding nothing to do).
.PRECIOUS: $(SHARDS_DONE) $(MODEL) $(REPORT)

.PHONY: help venv download validate preprocess audit train score crossval predict serve presets demo test bench clean-demo

help:
	@echo "make demo        whole pipeline offline on a generated mini collection (start here)"
	@echo "make test        the test suite"
	@echo "make download    catalogue the $(DATASET) data set into $(MANIFESTS)/tracks.csv and download it, verified"
	@echo "make validate    list missing and corrupt downloads"
	@echo "make preprocess  16 kHz mono, commentary removed, shards in $(DATA_DIR)/shards"
	@echo "make audit       pages to listen to what was removed: $(REPORTS_DIR)/commentary/index.html"
	@echo "make train       train run $(RUN) into $(RUNS_DIR)/$(RUN)"
	@echo "make score       held-out scores and report into $(REPORTS_DIR)/$(RUN)"
	@echo "make crossval    $(or $(FOLDS),5)-fold cross-validation with baselines into $(REPORTS_DIR)/$(CV_RUN)"
	@echo "make predict AUDIO=file.mp3   class probabilities for one file"
	@echo "make serve       a page on http://127.0.0.1:$(PORT)/ to drop audio files on (run $(RUN))"
	@echo "make presets     the networks (PRESET=seed15s: its layers and their sources)"
	@echo "DATASET=niven|ia|fma|gtzan|folder chooses the data set (README: Other data sets)"
	@echo "make bench       the benchmark scripts under benchmarks/"

venv: $(VENV)/.installed

# silero-vad's wheel carries the ONNX speech model; its Python code wants torch, which we do not
# use (the model runs on onnxruntime), hence --no-deps.
$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[test]'
	$(VENV)/bin/python -m pip install --quiet --no-deps 'silero-vad==6.2.3'
	touch $@

download: venv
	$(JAZZCNN) download $(COMMON) --dataset $(call q,$(DATASET)) --collection $(call q,$(COLLECTION)) \
	  --format $(call q,$(FORMAT)) $(call opt,--limit,$(LIMIT)) $(SELECT) $(call opt,--workers,$(WORKERS)) \
	  $(call opt,--ia-base-url,$(IA_BASE_URL)) $(call opt,--dry-run,$(DRY_RUN)) \
	  $(call opt,--max-examples,$(MAX_EXAMPLES)) $(call opt,--fma-subset,$(FMA_SUBSET)) \
	  $(call opt,--source-dir,$(SOURCE_DIR)) $(call opt,--source-url,$(SOURCE_URL)) \
	  $(call opt,--source-sha1,$(SOURCE_SHA1)) $(call opt,--labels-csv,$(LABELS)) \
	  $(call opt,--gtzan-split,$(GTZAN_SPLIT)) $(DOWNLOAD_ARGS)

validate: venv
	$(JAZZCNN) validate $(COMMON) --format $(call q,$(FORMAT)) $(SELECT) $(call opt,--limit,$(LIMIT))

# Preprocess depends on what was downloaded (verified.csv changes only when the set of verified
# files does), not on tracks.csv: an era edit must not redo the audio work.
preprocess: $(SHARDS_DONE)
$(SHARDS_DONE): $(VERIFIED) | venv
	$(JAZZCNN) preprocess $(COMMON) --format $(call q,$(FORMAT)) $(call opt,--workers,$(WORKERS)) \
	  $(call opt,--trim-head-s,$(TRIM_HEAD)) $(call opt,--trim-tail-s,$(TRIM_TAIL)) \
	  $(call opt,--vad,$(VAD)) $(call opt,--shard-bytes,$(SHARD_BYTES)) \
	  $(call opt,--min-segment-s,$(MIN_SEGMENT)) $(SELECT) \
	  $(call opt,--limit,$(LIMIT)) $(call opt,--max-examples,$(MAX_EXAMPLES)) \
	  --audit-dir $(call q,$(REPORTS_DIR)/commentary) $(PREPROCESS_ARGS)

audit: venv
	$(JAZZCNN) audit $(COMMON) --audit-dir $(call q,$(REPORTS_DIR)/commentary)

$(VERIFIED):
	@echo no verified downloads in $(call q,$(DATA_DIR)/audio): run "'make download'" first >&2; exit 1

# The training settings, shared by train and crossval.
TRAIN_OPTS = $(call opt,--preset,$(PRESET)) $(call opt,--config,$(CONFIG)) $(call opt,--group,$(GROUP)) \
  $(call opt,--straddle,$(STRADDLE)) $(call opt,--clip-seconds,$(CLIP_SECONDS)) $(call opt,--epochs,$(EPOCHS)) \
  $(call opt,--batch-size,$(BATCH_SIZE)) $(call opt,--learning-rate,$(LEARNING_RATE)) $(call opt,--seed,$(SEED)) \
  $(call opt,--max-examples,$(MAX_EXAMPLES)) $(call opt,--steps-per-epoch,$(STEPS_PER_EPOCH)) \
  $(call opt,--patience,$(PATIENCE)) $(call opt,--balance,$(BALANCE)) $(call opt,--bandlimit-hz,$(BANDLIMIT_HZ)) \
  $(call opt,--classes,$(CLASSES)) $(call opt,--hparams,$(HPARAMS)) $(call opt,--tune,$(TUNE)) \
  $(call opt,--tune-grid,$(TUNE_GRID))

# Training reruns when the shards or either manifest CSV change (relabelling), nothing upstream.
# SPLIT=fixed (the data set's published split) is train's alone: crossval makes its own folds.
train: $(MODEL)
$(MODEL): $(SHARDS_DONE) $(TRACKS) $(CLASS_CSV) $(call esc,$(CONFIG)) | venv
	$(JAZZCNN) train $(COMMON) --runs-dir $(call q,$(RUNS_DIR)) --run $(call q,$(RUN)) $(TRAIN_OPTS) \
	  $(call opt,--split,$(SPLIT)) $(TRAIN_ARGS)

score: $(REPORT)
$(REPORT): $(MODEL) | venv
	$(JAZZCNN) score --runs-dir $(call q,$(RUNS_DIR)) --run $(call q,$(RUN)) --reports-dir $(call q,$(REPORTS_DIR)) \
	  --data-dir $(call q,$(DATA_DIR)) $(SCORE_ARGS)

# Cross-validation resumes by itself (finished folds are not trained again), so it always runs.
crossval: $(SHARDS_DONE) | venv
	$(JAZZCNN) crossval $(COMMON) --runs-dir $(call q,$(RUNS_DIR)) --run $(call q,$(CV_RUN)) \
	  --reports-dir $(call q,$(REPORTS_DIR)) $(call opt,--folds,$(FOLDS)) $(call opt,--compare,$(COMPARE)) \
	  $(TRAIN_OPTS) $(CROSSVAL_ARGS)

predict: venv
	$(JAZZCNN) predict --runs-dir $(call q,$(RUNS_DIR)) --run $(call q,$(RUN)) --audio $(call q,$(AUDIO))

serve: venv
	$(JAZZCNN) serve --runs-dir $(call q,$(RUNS_DIR)) --run $(call q,$(RUN)) --port $(call q,$(PORT)) $(SERVE_ARGS)
presets: venv
	$(JAZZCNN) presets $(call opt,--preset,$(PRESET))

demo: venv
	$(JAZZCNN) demo $(DEMO_ARGS)

test: venv
	$(VENV)/bin/python -m pytest

bench: venv
	for b in benchmarks/bench_*.py; do $(VENV)/bin/python $$b || exit 1; done

clean-demo:
	rm -rf build/demo
