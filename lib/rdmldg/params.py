"""The study's parameters: one YAML file per concern, validated by strict schemas.

Each file `params/<concern>.yaml` holds a single top-level key, `<concern>`. Files are read
with YAML 1.2 semantics (`1e-4` is a float, `yes` is a string) and validated strictly: an
unknown key, a wrong type or an impossible value fails at once with the file, the line, the
key and the fix named.

The schemas are the single source of the defaults. A profile (`params/profiles/NAME.yaml`)
is an overlay on those defaults; `python -m rdmldg.params apply NAME` writes the resolved
files, so the change shows in `git diff` and `dvc params diff`.
"""

from __future__ import annotations

import difflib
import io
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from rdmldg import paths

SYNTHETIC_DOMAINS = ("cartoon", "painting", "photo", "sketch")
SYNTHETIC_CLASSES = ("ball", "cross", "flower", "house", "moon", "ring", "star", "tree")
DOMAINBED_DOMAINS = {
    "PACS": ("art_painting", "cartoon", "photo", "sketch"),
    "VLCS": ("Caltech101", "LabelMe", "SUN09", "VOC2007"),
    "office_home": ("Art", "Clipart", "Product", "Real World"),
    "terra_incognita": ("location_100", "location_38", "location_43", "location_46"),
}
METHODS = ("label", "reasoning", "mtct", "sarr", "rdmldg")


# Fields that name where a secret lives; a user who pastes the secret itself must not see it
# echoed into a terminal or a log.
SECRET_FIELDS = frozenset({"api_key_env"})


class ParamsError(ValueError):
    """Invalid parameters; the message lists every problem with its file, key and fix."""


class _Strict(BaseModel):
    # allow_inf_nan=False: `.inf` and `.nan` are floats to YAML but never a valid setting here
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, validate_default=True, allow_inf_nan=False)


def _unique(values: list, what: str) -> list:
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{what} must be unique; repeated: {', '.join(dupes)}")
    return values


# --------------------------------------------------------------------------- data
class SyntheticParams(_Strict):
    seed: int = Field(0, ge=0, description="seed of the world: same seed, same images, byte for byte")
    domains: list[Literal[SYNTHETIC_DOMAINS]] = Field(
        list(SYNTHETIC_DOMAINS), min_length=2, description="rendering styles, one domain each"
    )
    classes: list[Literal[SYNTHETIC_CLASSES]] = Field(
        list(SYNTHETIC_CLASSES), min_length=2, description="shape-defined object classes"
    )
    images_per_class: int = Field(
        48, gt=0, description="images per domain and class (48: about 307 test images per held-out domain, so a "
        "method's Avg has a binomial SE of at most about 1.43 points)")
    image_size: int = Field(64, ge=16, le=512, description="side of the square images, pixels")
    spurious_attribute: Literal["colour", "background"] = Field(
        "colour", description="nuisance attribute tied to the class in spurious_domains"
    )
    spurious_strength: float = Field(
        0.5, ge=0, le=1, description="probability that an image in a spurious domain takes its class's value"
    )
    spurious_domains: list[Literal[SYNTHETIC_DOMAINS]] = Field(
        ["cartoon", "painting", "photo"], description="domains where the spurious correlation holds"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "SyntheticParams":
        _unique(self.domains, "domains")
        _unique(self.classes, "classes")
        extra = sorted(set(self.spurious_domains) - set(self.domains))
        if extra:
            raise ValueError(f"spurious_domains {extra} are not among domains {self.domains}")
        return self


class DigitsParams(_Strict):
    seed: int = Field(0, ge=0, description="seed of the shuffle that deals digits to domains")
    variant: Literal["rotated", "colored"] = Field(
        "rotated", description="rotated: RotatedMNIST-like; colored: ColoredMNIST-like"
    )
    rotations: list[int] = Field(
        [0, 15, 30, 45, 60, 75], min_length=2, description="degrees, one domain each (rotated)"
    )
    colour_correlations: list[float] = Field(
        [0.9, 0.8, 0.1], min_length=2, description="P(colour = class colour), one domain each (colored)"
    )
    image_size: int = Field(32, ge=8, le=256, description="side of the upscaled digit images")

    @model_validator(mode="after")
    def _consistent(self) -> "DigitsParams":
        _unique(self.rotations, "rotations")
        _unique(self.colour_correlations, "colour_correlations")
        if any(not 0 <= r < 360 for r in self.rotations):
            raise ValueError("rotations must lie in [0, 360)")
        if any(not 0 <= c <= 1 for c in self.colour_correlations):
            raise ValueError("colour_correlations must lie in [0, 1]")
        return self

    def domain_names(self) -> list[str]:
        if self.variant == "rotated":
            return sorted(f"rot_{r:03d}" for r in self.rotations)
        return sorted(f"colour_{round(c * 100):03d}" for c in self.colour_correlations)


class DomainBedParams(_Strict):
    root: str | None = Field(
        None, description="folder holding PACS/, VLCS/, office_home/, terra_incognita/ (DomainBed layout)"
    )
    dataset: Literal[tuple(DOMAINBED_DOMAINS)] = Field("PACS", description="dataset folder under root")
    images_per_class: int | None = Field(
        None, gt=0, description="a dry run's subset: the first N images (sorted order) of each domain x class; "
        "null: every image (the benchmark)")


class ShiftCheckParams(_Strict):
    enabled: bool = Field(True, description="train a pixel/colour-histogram classifier per fold")
    histogram_bins: int = Field(8, ge=2, le=64, description="bins per colour channel")
    thumbnail: int = Field(8, ge=2, le=32, description="side of the grey thumbnail features")
    C: float = Field(1.0, gt=0, description="inverse regularisation of the logistic regression")


class DataParams(_Strict):
    source: Literal["synthetic", "digits", "domainbed"] = Field(
        "synthetic", description="synthetic world, scikit-learn digits, or real DomainBed folders"
    )
    trial_seeds: list[int] = Field([0], min_length=1, description="DomainBed trial seeds (splits)")
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="share of each domain in its out split")
    on_bad_image: Literal["error", "skip"] = Field(
        "error", description="error: stop on a corrupt image; skip: leave it out and count it"
    )
    max_image_pixels: int = Field(
        50_000_000, gt=0, description="largest image accepted (width x height); a larger one counts as a bad image"
    )
    synthetic: SyntheticParams = SyntheticParams()
    digits: DigitsParams = DigitsParams()
    domainbed: DomainBedParams = DomainBedParams()
    shift_check: ShiftCheckParams = ShiftCheckParams()

    @model_validator(mode="after")
    def _consistent(self) -> "DataParams":
        _unique(self.trial_seeds, "trial_seeds")
        if any(s < 0 for s in self.trial_seeds):
            raise ValueError("trial_seeds must be >= 0")
        if self.source == "domainbed" and not self.domainbed.root:
            raise ValueError("source is domainbed but domainbed.root is not set: give the DomainBed data folder")
        return self

    def dataset_name(self) -> str:
        return {"synthetic": "SyntheticWorld", "digits": f"Digits_{self.digits.variant}",
                "domainbed": self.domainbed.dataset}[self.source]

    def domain_names(self) -> list[str]:
        """Domains in environment-index order (sorted folder names, as DomainBed)."""
        if self.source == "synthetic":
            return sorted(self.synthetic.domains)
        if self.source == "digits":
            return self.digits.domain_names()
        return sorted(DOMAINBED_DOMAINS[self.domainbed.dataset])


# --------------------------------------------------------------------------- study
class StudyParams(_Strict):
    profile: str = Field("default", description="name of the profile last applied (informational)")
    seed: int = Field(0, ge=0, description="root seed; every purpose derives its own from it")
    heldout_domains: list[str] | Literal["all"] = Field(
        "all", description="domains held out in turn (leave-one-domain-out), or all"
    )
    methods: list[Literal[METHODS]] = Field(list(METHODS), min_length=1, description="methods to train")

    @field_validator("heldout_domains")
    @classmethod
    def _some_fold(cls, value):
        if value == []:
            raise ValueError("the list is empty, so no fold would be trained or evaluated")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "StudyParams":
        _unique(self.methods, "methods")
        if self.heldout_domains != "all":
            _unique(self.heldout_domains, "heldout_domains")
        return self


# --------------------------------------------------------------------------- chains
class AttributeTeacherParams(_Strict):
    imperfect_rate: float = Field(
        0.3, ge=0, lt=1, description="share of candidates made imperfect (wrong conclusion, missing or truncated section)"
    )


class HFTeacherParams(_Strict):
    checkpoint: str | None = Field(None, description="local folder of an image-text-to-text checkpoint")
    trust_remote_code: bool = Field(False, description="allow code shipped with the checkpoint to run")
    batch_size: int = Field(8, gt=0, description="images per generate() call")
    max_new_tokens: int = Field(512, gt=0, description="longest chain generated")
    temperature: float = Field(0.7, ge=0, description="sampling temperature (0: greedy)")
    top_p: float = Field(0.9, gt=0, le=1, description="nucleus sampling mass")


class OpenAITeacherParams(_Strict):
    base_url: str = Field("http://127.0.0.1:8000/v1", description="OpenAI-compatible endpoint (vLLM, OpenAI, ...)")
    model: str = Field("gpt-4o", description="model name the endpoint serves")
    api_key_env: str = Field(
        "OPENAI_API_KEY", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="NAME of the environment variable holding the key (never the key itself)",
    )
    timeout_s: float = Field(120.0, gt=0, description="seconds per request")
    max_retries: int = Field(5, ge=0, description="retries on 429, 5xx, connection errors and malformed replies")
    backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles each retry (plus jitter)")
    concurrency: int = Field(8, gt=0, description="requests in flight at once")
    temperature: float = Field(0.7, ge=0, description="sampling temperature")
    top_p: float = Field(0.9, gt=0, le=1, description="nucleus sampling mass")
    max_tokens: int = Field(1024, gt=0, description="longest chain generated")


class ChainsParams(_Strict):
    teacher: Literal["attribute", "hf", "openai"] = Field(
        "attribute", description="attribute: offline, from generating attributes; hf: local model; openai: endpoint"
    )
    candidates: int = Field(4, gt=0, description="K: candidates sampled per image; the first correct one is kept")
    seed: int = Field(0, ge=0, description="seed of the sampling")
    splits: list[Literal["in", "out"]] = Field(
        ["in"], min_length=1, description="splits of the source domains that get chains (training uses in)"
    )
    cache_dir: str = Field("data/cache", description="teacher response cache (kept across runs; not a DVC output)")
    attribute: AttributeTeacherParams = AttributeTeacherParams()
    hf: HFTeacherParams = HFTeacherParams()
    openai: OpenAITeacherParams = OpenAITeacherParams()

    @model_validator(mode="after")
    def _consistent(self) -> "ChainsParams":
        _unique(self.splits, "splits")
        if self.teacher == "hf" and not self.hf.checkpoint:
            raise ValueError("teacher is hf but hf.checkpoint is not set: give a local checkpoint folder")
        return self


# --------------------------------------------------------------------------- model
class PretrainParams(_Strict):
    examples: int = Field(2000, gt=0, description="phase 2: neutral-style examples (captions, answers, chains, few-shot)")
    vision_corpus: Literal["neutral", "generic", "mixed"] = Field(
        "mixed", description="phase 1's images: neutral silhouettes, the classes in generic styles (none of the benchmark's), or half of each")
    vision_examples: int = Field(24000, gt=0, description="phase 1: images of its corpus, each rendered once")
    vision_epochs: int = Field(8, ge=0, description="phase 1: epochs of the vision tower alone on its corpus")
    vision_lr: float | None = Field(1e-3, gt=0, description="phase 1: AdamW learning rate; null: lr")
    freeze_vision: bool = Field(True, description="phase 2 keeps the pretrained tower frozen, as LLaVA's training does")
    epochs: int = Field(2, gt=0, description="phase 2: passes of the whole model over the pretraining examples")
    lr: float = Field(2e-3, gt=0, description="AdamW learning rate (full pretraining from random init)")
    batch_size: int = Field(16, gt=0, description="examples per step")
    vocab_size: int = Field(1024, ge=300, description="BPE vocabulary trained offline on prompts, answers and chains")
    seed: int = Field(0, ge=0, description="seed of the corpus and the initialisation")


class ModelParams(_Strict):
    source: Literal["embedded", "checkpoint"] = Field(
        "embedded", description="embedded: the small MLLM pretrained in the pipeline; checkpoint: a local one"
    )
    preset: Literal["smoke", "default", "bigger"] = Field("default", description="embedded model size")
    checkpoint: str | None = Field(None, description="local folder of a transformers checkpoint")
    trust_remote_code: bool = Field(False, description="allow code shipped with the checkpoint to run")
    dtype: Literal["auto", "float32", "bfloat16"] = Field("auto", description="weights dtype; auto: bf16 on GPU")
    pretrain: PretrainParams = PretrainParams()

    @model_validator(mode="after")
    def _consistent(self) -> "ModelParams":
        if self.source == "checkpoint" and not self.checkpoint:
            raise ValueError("source is checkpoint but checkpoint is not set: give the local checkpoint folder")
        return self


# --------------------------------------------------------------------------- eval
class ZeroShotParams(_Strict):
    images_per_domain: int = Field(96, gt=0, description="images per domain (from its in split) for zero-shot accuracy")
    icl_queries: int = Field(32, gt=0, description="queries per domain and setting for in-context learning")
    shots: list[int] = Field([0, 2, 4, 8], min_length=1, description="numbers of in-context examples")
    label_shift_shares: list[float] = Field(
        [0.0, 0.25, 0.5, 0.75], min_length=1, description="share of the 8 shots that carry the query's class")
    probe_C: float = Field(0.316, gt=0, description="inverse regularisation of the mapping-deficiency probe")
    seed: int = Field(0, ge=0, description="seed of the samples and shots")


class AnalysisParams(_Strict):
    challenge2_images: int = Field(
        192, gt=0, description="Challenge 2: source training images whose base self-chain is tried (first fold)")
    challenge2_min_images: int = Field(8, gt=0, description="Challenge 2: fewest correct self-chains to fine-tune on")
    challenge2_epochs: int = Field(3, gt=0, description="Challenge 2: epochs of each reasoning-only fine-tune")
    top_tokens: int = Field(15, gt=0, description="Challenge 2: entropy-reduction tokens compared (paper: 15)")
    min_token_count: int = Field(3, gt=0, description="Challenge 2: occurrences a token needs to be ranked")
    mmd_images_per_domain: int = Field(48, gt=1, description="domain invariance: images (and chains) per domain")
    bootstrap_samples: int = Field(
        2000, ge=100, description="paired comparisons: bootstrap replicates (over trial seeds, then test images)")
    confidence: float = Field(0.95, gt=0, lt=1, description="paired comparisons: level of the confidence intervals")


class EvalParams(_Strict):
    batch_size: int = Field(32, gt=0, description="examples per forward pass (log-likelihood scores all classes of each)")
    max_new_tokens: int = Field(24, gt=0, description="tokens generated for a short answer")
    chain_max_new_tokens: int = Field(
        144, gt=0, description="tokens generated for a reasoning chain (at least the longest teacher chain: SARR checks)")
    generate_batch_size: int = Field(64, gt=0, description="images per greedy generate() call (answers and chains)")
    images_per_split: int | None = Field(
        64, gt=0, description="evaluate stage: images per environment and split read with q_cls (a seeded sample); "
        "null: all")
    test_images_per_domain: int | None = Field(
        None, gt=0, description="evaluate stage: images of the held-out domain's in split (the test set) read with "
        "q_cls; null: all, so every method is compared on the whole test set")
    chain_images_per_split: int | None = Field(
        12, ge=0, description="evaluate stage: of those, images that also get a q_reason chain; null: all")
    zeroshot: ZeroShotParams = ZeroShotParams()
    analysis: AnalysisParams = AnalysisParams()

    @model_validator(mode="after")
    def _consistent(self) -> "EvalParams":
        if any(k < 0 for k in self.zeroshot.shots):
            raise ValueError("zeroshot.shots must be >= 0")
        if any(not 0 <= s <= 1 for s in self.zeroshot.label_shift_shares):
            raise ValueError("zeroshot.label_shift_shares must lie in [0, 1]")
        return self


# --------------------------------------------------------------------------- train
class LoraParams(_Strict):
    rank: int = Field(8, gt=0, description="LoRA rank (paper: 8)")
    alpha: int = Field(16, gt=0, description="LoRA alpha (InternVL default: 16)")
    dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout (InternVL default: 0.05)")
    token_embeddings: bool = Field(
        True, description="also train the decoder's token embeddings: the miniature's decoder never learnt most of "
        "the teacher's words, and LoRA alone cannot make them likely (paper: false; a real LLM knows its words)")


class ServedGeneratorParams(_Strict):
    base_url: str = Field("http://127.0.0.1:8001/v1", description="vLLM's OpenAI-compatible server of the base model, "
                          "started with --enable-lora (and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True)")
    api_key_env: str = Field("VLLM_API_KEY", description="name of the environment variable holding its key, if any")
    timeout_s: float = Field(600.0, gt=0, description="seconds per request")
    max_retries: int = Field(5, ge=0, description="retries on 429, 5xx, connection errors and malformed replies")
    backoff_s: float = Field(1.0, ge=0, description="first retry delay; doubles each retry (plus jitter)")
    concurrency: int = Field(64, gt=0, description="requests in flight at once (vLLM batches them)")


class SarrParams(_Strict):
    rounds: int = Field(1, ge=0, description="self-aligned reasoning rounds (paper: 3; its gain is mostly in round 1)")
    fallback: Literal["keep_previous", "drop"] = Field(
        "keep_previous", description="what an image whose self-chain fails keeps"
    )
    generation_batch_size: int = Field(64, gt=0, description="images per greedy generate() call for self-chains")
    generator: Literal["local", "served"] = Field(
        "local", description="local: generate() in the training process; served: a vLLM server of the base model "
        "loads each round's LoRA adapter and writes the self-chains (sarr.served)")
    served: ServedGeneratorParams = ServedGeneratorParams()


class ComputeParams(_Strict):
    num_processes: int = Field(
        1, ge=1, description="training processes (one per GPU); above 1 the train stage runs its folds under "
        "`accelerate launch` with data-parallel replicas (DDP)")
    mixed_precision: Literal["auto", "no", "bf16"] = Field(
        "auto", description="auto: bf16 on a GPU, full precision on a CPU")


PAPER_GLOBAL_BATCH = 128  # 4 GPUs x 8 images x 4 accumulation steps (Xu et al.)


class TrainParams(_Strict):
    lr: float = Field(2e-3, gt=0, description="AdamW learning rate (paper: 5e-4; chosen on source validation, "
                      "benchmarks/sweep.py)")
    epochs: int = Field(3, gt=0, description="epochs per stage (paper: 3)")
    warmup: float = Field(0.1, ge=0, lt=1, description="share of each stage's steps spent warming the learning rate up from 0")
    batch_size: int = Field(8, gt=0, description="images per device step")
    grad_accum: int = Field(1, gt=0, description="gradient accumulation steps")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay")
    lora: LoraParams = LoraParams()
    sarr: SarrParams = SarrParams()
    resume: Literal["auto", "never"] = Field("auto", description="continue from the last checkpoint if any")
    images_per_domain: int | None = Field(
        None, gt=0, description="training images per source domain (a seeded sample of its in split); null: all")
    val_images_per_domain: int | None = Field(
        None, gt=0, description="validation images per source domain (its out split), for model selection; null: all")
    share_image_encoding: bool = Field(True, description="encode each image once for both pathways")
    compute: ComputeParams = ComputeParams()

    @property
    def global_batch(self) -> int:
        """Images per optimizer step: per device × accumulation steps × processes."""
        return self.batch_size * self.grad_accum * self.compute.num_processes

    def global_batch_note(self) -> str:
        b = self
        text = (f"global batch {b.global_batch} = {b.batch_size} per device x {b.grad_accum} accumulation "
                f"step(s) x {b.compute.num_processes} process(es)")
        if b.global_batch != PAPER_GLOBAL_BATCH:
            text += f" (the paper's is {PAPER_GLOBAL_BATCH})"
        return text


CONCERNS: dict[str, type[_Strict]] = {
    "data": DataParams,
    "study": StudyParams,
    "chains": ChainsParams,
    "model": ModelParams,
    "train": TrainParams,
    "eval": EvalParams,
}


class Params(BaseModel):
    """All concerns, validated together (some checks span files)."""

    model_config = ConfigDict(frozen=True)
    data: DataParams
    study: StudyParams
    chains: ChainsParams
    model: ModelParams
    train: TrainParams
    eval: EvalParams

    def heldout_domains(self) -> list[str]:
        hd = self.study.heldout_domains
        return self.data.domain_names() if hd == "all" else list(hd)


# --------------------------------------------------------------------------- reading
def _yaml() -> YAML:
    y = YAML(typ="rt")  # round-trip loader: YAML 1.2 and line numbers for messages
    y.version = (1, 2)
    return y


def _plain(node: Any) -> Any:
    """ruamel's scalar subclasses → plain Python, so strict validation sees real types."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _line_of(doc: Any, loc: tuple) -> int | None:
    """1-based line of the deepest key of `loc` present in the round-trip document."""
    line, node = None, doc
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
            line = node.lc.item(part)[0] + 1
        else:
            break
        node = node[part]
    return line


def _field_info(schema: type[BaseModel], loc: tuple):
    """The pydantic FieldInfo at `loc` (skipping list indices), or None."""
    model, info = schema, None
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        ann = info.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return info


def _fix_hint(schema: type[BaseModel], concern: str, loc: tuple, err: dict) -> str:
    key = ".".join(str(p) for p in (concern, *loc))
    if err["type"] == "extra_forbidden":
        parent = _field_info(schema, loc[:-1]) if len(loc) > 1 else None
        model = parent.annotation if parent else schema
        known = sorted(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"{hint}remove or rename it; keys allowed here: {', '.join(known)}"
    info = _field_info(schema, loc)
    if info is None:
        return f"correct {key}"
    default = info.get_default(call_default_factory=True)
    what = f" ({info.description})" if info.description else ""
    return f"set {key} to a valid value{what}; default: {default!r}"


def _format_error(file: str, doc: Any, concern: str, schema, err: dict) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in (concern, *loc)) if loc else concern
    line = _line_of(doc.get(concern), loc) if isinstance(doc, CommentedMap) else None
    where = f"{file}:{line}" if line else file
    got = f" (got {err['input']!r})" if loc and err["type"] != "missing" else ""
    if loc and loc[-1] in SECRET_FIELDS:
        got = " (value hidden: it may be a secret)"
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
    return f"{where}: {key}{got}: {msg}. Fix: {_fix_hint(schema, concern, loc, err)}"


def _read_concern(path: Path, concern: str, shown: str) -> tuple[Any, list[str]]:
    """Parse one params file; return (document, problems)."""
    if not path.exists():
        return None, [f"{shown}: missing. Fix: run `python -m rdmldg.params apply default` to write it"]
    try:
        doc = _yaml().load(path.read_text())
    except YAMLError as exc:
        return None, [f"{shown}: not valid YAML: {exc}. Fix: correct the syntax at the position shown"]
    if not isinstance(doc, dict) or list(doc) != [concern]:
        top = list(doc) if isinstance(doc, dict) else type(doc).__name__
        return None, [f"{shown}: top level is {top}; expected the single key '{concern}'. "
                      f"Fix: put every setting of this file under '{concern}:'"]
    return doc, []


def _validate(doc: Any, concern: str, shown: str) -> tuple[BaseModel | None, list[str]]:
    schema = CONCERNS[concern]
    body = _plain(doc[concern])
    try:
        return schema.model_validate(body if body is not None else {}), []
    except ValidationError as exc:
        return None, [_format_error(shown, doc, concern, schema, e) for e in exc.errors()]


def _cross_check(p: dict[str, BaseModel], shown: dict[str, str]) -> list[str]:
    data, study = p["data"], p["study"]
    domains = data.domain_names()
    problems = []
    if study.heldout_domains != "all":
        for d in study.heldout_domains:
            if d not in domains:
                close = difflib.get_close_matches(d, domains, n=1)
                hint = f"did you mean '{close[0]}'? " if close else ""
                problems.append(
                    f"{shown['study']}: study.heldout_domains: '{d}' is not a domain of "
                    f"{data.dataset_name()} (domains: {', '.join(domains)}). Fix: {hint}"
                    "use one of those domains, or 'all'"
                )
    chains = p.get("chains")
    if chains is not None and data.source == "domainbed" and chains.teacher == "attribute":
        problems.append(
            f"{shown['chains']}: chains.teacher: 'attribute' writes chains from the generating attributes of the "
            f"synthetic world, which {data.dataset_name()} images do not have. Fix: set chains.teacher to openai "
            "(an OpenAI-compatible endpoint: vLLM serving a local MLLM, or GPT-4o as the paper) or hf (a local "
            "checkpoint, chains.hf.checkpoint)"
        )
    return problems


def load(params_dir: Path | None = None) -> Params:
    """Load and validate every concern; raise ParamsError listing all problems at once."""
    folder = Path(params_dir) if params_dir else paths.params_dir()
    problems: list[str] = _unknown_files(folder)
    parsed: dict[str, BaseModel] = {}
    shown: dict[str, str] = {}
    for concern in CONCERNS:
        path = folder / f"{concern}.yaml"
        shown[concern] = _shown(path)
        doc, errs = _read_concern(path, concern, shown[concern])
        if doc is not None:
            model, errs = _validate(doc, concern, shown[concern])
            if model is not None:
                parsed[concern] = model
        problems += errs
    if not problems:
        problems = _cross_check(parsed, shown)
    if problems:
        raise ParamsError("invalid parameters:\n  - " + "\n  - ".join(problems))
    return Params(**parsed)


def _unknown_files(folder: Path) -> list[str]:
    return [
        f"{_shown(f)}: not a params concern (known: {', '.join(CONCERNS)}). "
        "Fix: move it out of params/ or into params/profiles/ if it is an overlay"
        for f in sorted(folder.glob("*.y*ml")) if f.stem not in CONCERNS
    ]


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to cwd when possible."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- profiles
def profiles_dir(params_dir: Path | None = None) -> Path:
    return (Path(params_dir) if params_dir else paths.params_dir()) / "profiles"


def available_profiles(params_dir: Path | None = None) -> list[str]:
    return sorted(p.stem for p in profiles_dir(params_dir).glob("*.yaml"))


def _deep_merge(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            out[key] = _deep_merge(base[key], value)
        else:
            out[key] = value
    return out


def resolve_profile(name: str, params_dir: Path | None = None) -> dict[str, dict]:
    """Schema defaults overlaid with the profile; validated; keyed by concern. `a,b` overlays
    profile b on profile a (e.g. `paper-pacs,dryrun`: the paper's setup, shrunk for a first run)."""
    overlay: dict = {}
    for part in name.split(","):
        path = profiles_dir(params_dir) / f"{part.strip()}.yaml"
        if not path.exists():
            raise ParamsError(f"no profile '{part}' ({_shown(path)}). Available: "
                              f"{', '.join(available_profiles(params_dir))}")
        overlay = _deep_merge(overlay, _plain(_yaml().load(path.read_text())) or {})
    unknown = sorted(set(overlay) - set(CONCERNS))
    if unknown:
        raise ParamsError(f"{_shown(path)}: unknown concerns {unknown}; known: {', '.join(CONCERNS)}")
    resolved = {}
    problems = []
    for concern, schema in CONCERNS.items():
        merged = _deep_merge(schema().model_dump(mode="json"), overlay.get(concern) or {})
        if concern == "study":
            merged["profile"] = name
        doc = CommentedMap({concern: merged})
        model, errs = _validate(doc, concern, _shown(path))
        problems += errs
        if model is not None:
            resolved[concern] = model.model_dump(mode="json")
    if problems:
        raise ParamsError("invalid profile:\n  - " + "\n  - ".join(problems))
    return resolved


def _commented(schema: type[BaseModel], values: Any, indent: int) -> Any:
    """Values as ruamel nodes with each field's description as a comment above it."""
    if isinstance(values, list):
        seq = CommentedSeq(values)
        seq.fa.set_flow_style()
        return seq
    if not isinstance(values, dict):
        return values
    node = CommentedMap()
    for key, value in values.items():
        info = schema.model_fields.get(key) if schema else None
        sub = info.annotation if info and isinstance(info.annotation, type) else None
        sub = sub if sub and issubclass(sub, BaseModel) else None
        node[key] = _commented(sub, value, indent + 2)
        if info and info.description:
            node.yaml_set_comment_before_after_key(key, before=info.description, indent=indent)
    return node


def write_concern(concern: str, values: dict, params_dir: Path | None = None, header: str = "") -> Path:
    folder = Path(params_dir) if params_dir else paths.params_dir()
    doc = CommentedMap({concern: _commented(CONCERNS[concern], values, 2)})
    buf = io.StringIO()
    y = _yaml()
    y.version = None  # no %YAML directive in the file; the reader asks for 1.2 itself
    y.dump(doc, buf)
    path = folder / f"{concern}.yaml"
    path.write_text(header + buf.getvalue())
    return path


def apply_profile(name: str, params_dir: Path | None = None) -> list[Path]:
    resolved = resolve_profile(name, params_dir)
    files = " + ".join(f"params/profiles/{part.strip()}.yaml" for part in name.split(","))
    header = (f"# Written by `python -m rdmldg.params apply {name}` from the schema defaults in\n"
              f"# lib/rdmldg/params.py and {files}. Edit freely; re-applying\n"
              "# a profile rewrites this file.\n")
    return [write_concern(c, v, params_dir, header) for c, v in resolved.items()]


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rdmldg.params", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check", help="validate params/*.yaml")
    sub.add_parser("list", help="list the profiles")
    ap = sub.add_parser("apply", help="write params/*.yaml from a profile")
    ap.add_argument("profile")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "check":
            p = load()
            print(f"params OK: {p.data.dataset_name()}, domains {p.data.domain_names()}, "
                  f"held out {p.heldout_domains()}, profile {p.study.profile}; training: "
                  f"{p.train.global_batch_note()}")
        elif args.cmd == "list":
            print("\n".join(available_profiles()))
        else:
            for path in apply_profile(args.profile):
                print(f"wrote {_shown(path)}")
            print("see the change with: dvc params diff")
    except ParamsError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
