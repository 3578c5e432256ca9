"""Keras 3 layers (Gumbel-softmax relaxations) and the encoder/decoder backbones."""

from keraszoo.layers.backbones import BACKBONES, build_decoder, build_encoder, normalize_backbone
from keraszoo.layers.gumbel import GumbelSigmoid, GumbelSoftmax, TemperatureSchedule, as_schedule

__all__ = [
    "BACKBONES",
    "GumbelSigmoid",
    "GumbelSoftmax",
    "TemperatureSchedule",
    "as_schedule",
    "build_decoder",
    "build_encoder",
    "normalize_backbone",
]
