"""Publishing the instrument models to the Hugging Face Hub with huggingface_hub's own
upload API: exactly what ``load_separator`` reads back, and nothing that should not go."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from ..errors import BadInputError
from ..folders import lookalike_clips, model_folders, reference_clips

PUBLISHED_FILES = ("config.json", "model.safetensors", "README.md")
"""Published from every model folder, with its default reference clips and look-alike
queries."""
MAX_FILE_MB = 25
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def publishable_files(checkpoints: Path) -> list[str]:
    """Paths (relative to ``checkpoints``) of every instrument model and its card; refuses
    folders without a model card, pickled weights and files over 25 MB."""
    if not checkpoints.is_dir():
        raise BadInputError(f"{checkpoints} is not a folder")
    files = []
    for folder in model_folders(checkpoints):
        references = [path.name for path in reference_clips(folder) + lookalike_clips(folder)]
        for name in (*PUBLISHED_FILES, *references):
            path = folder / name
            if not path.exists():
                raise BadInputError(f"{path} is missing: every model needs it to be published")
            if path.stat().st_size > MAX_FILE_MB * 2**20:
                raise BadInputError(f"{path} is over {MAX_FILE_MB} MB")
            files.append(path.relative_to(checkpoints).as_posix())
        pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
        if pickles:
            raise BadInputError(
                f"{folder} holds pickled files ({', '.join(pickles)}): safetensors only"
            )
    if not files:
        raise BadInputError(f"no instrument models in {checkpoints}")
    return files


def push(checkpoints: Path, repo_id: str, private: bool = False, api: HfApi | None = None) -> str:
    """Create (or reuse) the model repo and upload the models in one commit; returns its URL."""
    files = publishable_files(checkpoints)
    api = api or HfApi()
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=checkpoints,
            allow_patterns=files,
            commit_message=f"Upload {len(model_folders(checkpoints))} bachata-sep models",
        )
    except Exception as error:  # offline, no token, no permission: one clear sentence
        raise BadInputError(
            f"could not upload to {repo_id} ({type(error).__name__}: {str(error).splitlines()[0]})"
        ) from None
    return str(url)
