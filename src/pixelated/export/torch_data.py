"""PyTorch access to an exported split: a Dataset over the Parquet export and a DataLoader
that yields tokenized, padded batches."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, Dataset


def dialogue_text(turns: list[dict]) -> str:
    """A conversation as one string, one 'role: text' line per turn."""
    return "\n".join(f"{turn['role']}: {turn['text']}" for turn in turns)


class ConversationDataset(Dataset):
    """Conversations of one exported Parquet split, in file order."""

    def __init__(self, parquet_path: str | Path):
        table = pq.read_table(parquet_path, columns=["conversation_id", "turns"])
        self.ids = table["conversation_id"].to_pylist()
        self.texts = [dialogue_text(turns) for turns in table["turns"].to_pylist()]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        return {"conversation_id": self.ids[index], "text": self.texts[index]}


def conversation_loader(
    parquet_path: str | Path, tokenizer, batch_size: int = 32, max_length: int = 256, shuffle: bool = False
) -> DataLoader:
    """Batches of {'conversation_id', 'input_ids', 'attention_mask'} from a Hugging Face tokenizer."""

    def collate(items: list[dict]) -> dict:
        encoded = tokenizer(
            [item["text"] for item in items],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        return {
            "conversation_id": [item["conversation_id"] for item in items],
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"].to(torch.long),
        }

    return DataLoader(
        ConversationDataset(parquet_path), batch_size=batch_size, shuffle=shuffle, collate_fn=collate
    )
