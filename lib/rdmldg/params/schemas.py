"""The parameter schemas: one pydantic model per concern (params/<concern>.yaml), strict, and
the single source of every default."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rdmldg.datasets import DOMAINBED_DOMAINS, SYNTHETIC_CLASSES, SYNTHETIC_DOMAINS
from rdmldg.methods import METHODS

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
    def _consistent(self) -> SyntheticParams:
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
    def _consistent(self) -> DigitsParams:
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
    def _consistent(self) -> DataParams:
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
    methods: list[Literal[tuple(METHODS)]] = Field(list(METHODS), min_length=1, description="methods to train")

    @field_validator("heldout_domains")
    @classmethod
    def _some_fold(cls, value):
        if value == []:
            raise ValueError("the list is empty, so no fold would be trained or evaluated")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> StudyParams:
        _unique(self.methods, "methods")
        if self.heldout_domains != "all":
            _unique(self.heldout_domains, "heldout_domains")
        return self


# --------------------------------------------------------------------------- chains
class AttributeTeacherParams(_Strict):
    imperfect_rate: float = Field(
        0.3, ge=0, lt=1,
        description="share of candidates made imperfect (wrong conclusion, missing or truncated section)")


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
    def _consistent(self) -> ChainsParams:
        _unique(self.splits, "splits")
        if self.teacher == "hf" and not self.hf.checkpoint:
            raise ValueError("teacher is hf but hf.checkpoint is not set: give a local checkpoint folder")
        return self


# --------------------------------------------------------------------------- model
class PretrainParams(_Strict):
    examples: int = Field(
        2000, gt=0, description="phase 2: neutral-style examples (captions, answers, chains, few-shot)")
    vision_corpus: Literal["neutral", "generic", "mixed"] = Field(
        "mixed", description="phase 1's images: neutral silhouettes, the classes in generic styles "
                             "(none of the benchmark's), or half of each")
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
    def _consistent(self) -> ModelParams:
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
    batch_size: int = Field(
        32, gt=0, description="examples per forward pass (log-likelihood scores all classes of each)")
    max_new_tokens: int = Field(24, gt=0, description="tokens generated for a short answer")
    chain_max_new_tokens: int = Field(
        144, gt=0,
        description="tokens generated for a reasoning chain (at least the longest teacher chain: SARR checks)")
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
    def _consistent(self) -> EvalParams:
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
    lr: float = Field(4e-3, gt=0, description="AdamW learning rate (paper: 5e-4; chosen on source validation, "
                      "benchmarks/sweep.py)")
    epochs: int = Field(3, gt=0, description="epochs per stage (paper: 3)")
    warmup: float = Field(
        0.1, ge=0, lt=1, description="share of each stage's steps spent warming the learning rate up from 0")
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
