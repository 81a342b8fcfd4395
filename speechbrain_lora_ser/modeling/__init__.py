"""The network: encoder lobe, pooling, head, LoRA, CCC, label scale."""
