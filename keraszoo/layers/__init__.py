"""Keras 3 layers and the encoder/decoder backbones."""

from keraszoo.layers.backbones import BACKBONES, build_decoder, build_encoder, normalize_backbone

__all__ = ["BACKBONES", "build_decoder", "build_encoder", "normalize_backbone"]
