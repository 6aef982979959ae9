"""The study's parameters: one YAML file per concern, validated by strict schemas.

Each file `params/<concern>.yaml` holds a single top-level key, `<concern>`. Files are read
with YAML 1.2 semantics (`1e-4` is a float, `yes` is a string) and validated strictly: an
unknown key, a wrong type or an impossible value fails at once with the file, the line, the
key and the fix named.

The schemas are the single source of the defaults. A profile (`params/profiles/NAME.yaml`)
is an overlay on those defaults; `python -m rdmldg.params apply NAME` writes the resolved
files, so the change shows in `git diff` and `dvc params diff`.

Modules: `schemas` (the pydantic models and the dataset facts they validate against),
`loading` (`load`, with errors naming file, line, key and fix), `profiles` (overlays, and
writing params/*.yaml), `cli` (`python -m rdmldg.params`).
"""

from rdmldg.params.loading import load
from rdmldg.params.profiles import apply_profile, available_profiles, profiles_dir, resolve_profile, write_concern
from rdmldg.params.schemas import (
    CONCERNS,
    PAPER_GLOBAL_BATCH,
    SECRET_FIELDS,
    AnalysisParams,
    AttributeTeacherParams,
    ChainsParams,
    ComputeParams,
    DataParams,
    DigitsParams,
    DomainBedParams,
    EvalParams,
    HFTeacherParams,
    LoraParams,
    ModelParams,
    OpenAITeacherParams,
    Params,
    ParamsError,
    PretrainParams,
    SarrParams,
    ServedGeneratorParams,
    ShiftCheckParams,
    StudyParams,
    SyntheticParams,
    TrainParams,
    ZeroShotParams,
)

__all__ = [
    "CONCERNS", "PAPER_GLOBAL_BATCH", "SECRET_FIELDS",
    "AnalysisParams", "AttributeTeacherParams", "ChainsParams", "ComputeParams", "DataParams", "DigitsParams",
    "DomainBedParams", "EvalParams", "HFTeacherParams", "LoraParams", "ModelParams", "OpenAITeacherParams", "Params",
    "ParamsError", "PretrainParams", "SarrParams", "ServedGeneratorParams", "ShiftCheckParams", "StudyParams",
    "SyntheticParams", "TrainParams", "ZeroShotParams", "apply_profile", "available_profiles", "load",
    "profiles_dir", "resolve_profile", "write_concern",
]
