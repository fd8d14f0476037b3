"""Which separator to use by default: trained weights from the Hugging Face Hub when it is
reachable, else the shipped weights (``bachata_sep/checkpoints`` in an installed wheel,
the repository's ``checkpoints/`` in a source checkout or editable install). No weights
anywhere is an error, never a silent identity separator.

One function decides, so the CLI, the app and the Python API always agree, and each can
say where its weights came from.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import MissingWeightsError
from .folders import model_folders
from .separators import IdentitySeparator, Separator

_PACKAGE = Path(__file__).resolve().parent
# A wheel carries the models inside the package (pyproject.toml maps the repository's
# checkpoints/ there); a source checkout keeps them at the root, in the Hub's layout.
CHECKPOINTS = (
    _PACKAGE / "checkpoints"
    if (_PACKAGE / "checkpoints").is_dir()
    else _PACKAGE.parent / "checkpoints"
)
DIGITS_CHECKPOINT = CHECKPOINTS / "digits"
"""The digits proof of concept's model: ``digits evaluate`` and the app's Digits tab."""
REPO_ID_VARIABLE = "BACHATA_SEP_REPO_ID"


@dataclass(frozen=True)
class LoadedSeparator:
    separator: Separator
    source: str
    """Where the weights came from, in words, for the app and the logs."""


def load_separator(
    repo_id: str | None = None,
    checkpoints: Path | None = None,
    identity_fallback: bool = False,
) -> LoadedSeparator:
    """The best separator available: Hub (``repo_id`` or ``$BACHATA_SEP_REPO_ID``), then
    ``checkpoints`` (default :data:`CHECKPOINTS`). Never fails for lack of network while
    ``checkpoints`` has models; with none anywhere it raises :class:`MissingWeightsError`,
    or returns the identity separator when ``identity_fallback`` asks for it."""
    repo_id = repo_id or os.environ.get(REPO_ID_VARIABLE)
    checkpoints = CHECKPOINTS if checkpoints is None else checkpoints
    if repo_id:
        folder = _download(repo_id)
        if folder is not None and model_folders(folder):
            return _from_folder(folder, f"Hugging Face Hub: {repo_id}")
    if model_folders(checkpoints):
        return _from_folder(checkpoints, f"local checkpoints: {checkpoints}")
    if identity_fallback:
        return LoadedSeparator(IdentitySeparator(), "identity separator (no trained weights found)")
    raise MissingWeightsError(_no_weights(repo_id, checkpoints))


def _no_weights(repo_id: str | None, checkpoints: Path) -> str:
    """The one sentence that says no weights were found, and how to get some."""
    found = f"{checkpoints} holds no instrument models"
    if repo_id:
        found = f"the Hub repository {repo_id} is unreachable, not cached or empty and {found}"
    return (
        f"no trained weights found: {found}; set {REPO_ID_VARIABLE} to a Hub repository of "
        "bachata-sep models, give your own with --checkpoints DIR (separator= in Python), "
        "or reinstall bachata-sep from a wheel or checkout that ships its checkpoints"
    )


@lru_cache(maxsize=1)
def default_separator() -> LoadedSeparator:
    """The separator ``separate`` uses when none is given, loaded once per process."""
    return load_separator()


def _download(repo_id: str) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id))
    except Exception as error:  # offline, unknown repo, no cache: all mean "use local"
        warnings.warn(
            f"could not load {repo_id} from the Hub ({type(error).__name__}); using local weights",
            stacklevel=3,
        )
        return None


def _from_folder(folder: Path, source: str) -> LoadedSeparator:
    # Imported on loading, not with the package: ``beats`` needs no model (huggingface_hub's
    # mixin and the U-Net, about 0.3 s).
    from .model import ModelSeparator

    return LoadedSeparator(ModelSeparator.from_folder(folder), source)
