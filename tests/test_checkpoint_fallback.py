"""Training resumes from the newest intact checkpoint, and says so."""

import logging
import os

import torch

from speechbrain_lora_ser.training.checkpoints import AtomicCheckpointer


def test_a_truncated_newest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    layer = torch.nn.Linear(3, 2)
    checkpointer = AtomicCheckpointer(str(tmp_path), {"layer": layer})
    with torch.no_grad():
        layer.weight.fill_(1.0)
    checkpointer.save_checkpoint(meta={"epoch": 1})
    with torch.no_grad():
        layer.weight.fill_(2.0)
    newest = checkpointer.save_checkpoint(meta={"epoch": 2})
    path = os.path.join(newest.path, "layer.ckpt")
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    restored = torch.nn.Linear(3, 2)
    fresh = AtomicCheckpointer(str(tmp_path), {"layer": restored})
    with caplog.at_level(logging.WARNING):
        checkpoint = fresh.recover_if_possible()
    assert checkpoint.meta["epoch"] == 1
    assert torch.equal(restored.weight, torch.ones(2, 3))
    assert str(newest.path) in caplog.text
    assert "falling back to the previous one" in caplog.text
