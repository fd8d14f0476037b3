import pytest
import torch

from bachata_sep.audio import write_audio
from bachata_sep.errors import BadInputError
from bachata_sep.folders import REFERENCE_CLIP
from bachata_sep.model import InstrumentModel
from bachata_sep.spec import ClipSpec
from bachata_sep.train.push import PUBLISHED_FILES, publishable_files, push

SPEC = ClipSpec()
LOOKALIKE = "lookalike-keys.flac"


class RecordingHub:
    """Stands in for the Hub service, which this machine cannot reach: it records what
    would be sent, so the test checks everything up to the upload call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id: str, **options) -> str:
        self.calls.append(("create_repo", {"repo_id": repo_id, **options}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **options) -> None:
        self.calls.append(("upload_folder", options))


@pytest.fixture
def checkpoints(tmp_path):
    for name in ("bass", "guitar"):
        torch.manual_seed(0)
        model = InstrumentModel(name, SPEC.to_dict(), 4, {"base_channels": 8, "depth": 2})
        model.save_pretrained(tmp_path / name)
        write_audio(
            tmp_path / name / REFERENCE_CLIP,
            torch.zeros(SPEC.length).numpy(),
            SPEC.sample_rate,
            "PCM_16",
        )
        (tmp_path / name / "training_log.csv").write_text("step\n1\n")
    # A model that learned a look-alike keeps its query, for users to ask for it.
    silence = torch.zeros(SPEC.length).numpy()
    write_audio(tmp_path / "bass" / LOOKALIKE, silence, SPEC.sample_rate, "PCM_16")
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "model.safetensors").write_bytes(b"")
    return tmp_path


def test_publishes_weights_references_and_cards_only(checkpoints):
    hub = RecordingHub()
    url = push(checkpoints, "someone/bachata-sep", api=hub)
    assert url.endswith("someone/bachata-sep")
    (_, create), (_, upload) = hub.calls
    assert create["exist_ok"] is True
    expected = [
        f"{name}/{file}"
        for name in ("bass", "guitar")
        for file in (*PUBLISHED_FILES, REFERENCE_CLIP, *([LOOKALIKE] if name == "bass" else []))
    ]
    assert upload["allow_patterns"] == expected
    assert upload["folder_path"] == checkpoints


def test_refuses_pickles_missing_cards_and_empty_folders(checkpoints, tmp_path_factory):
    (checkpoints / "bass" / "README.md").unlink()
    with pytest.raises(BadInputError, match="README.md is missing"):
        publishable_files(checkpoints)
    (checkpoints / "bass" / "README.md").write_text("card")
    (checkpoints / "bass" / "model.pt").write_bytes(b"pickle")
    with pytest.raises(BadInputError, match="safetensors only"):
        publishable_files(checkpoints)
    with pytest.raises(BadInputError, match="no instrument models"):
        publishable_files(tmp_path_factory.mktemp("empty"))


def test_offline_upload_is_one_clear_error(checkpoints, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BadInputError, match="could not upload to someone/bachata-sep") as error:
        push(checkpoints, "someone/bachata-sep")
    assert "\n" not in str(error.value)
