"""The per-node resource tracker a compute agent embeds: claims, usage, and the virt-driver protocol."""
