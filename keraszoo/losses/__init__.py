"""Objectives: variational bounds and their stable building blocks."""

from keraszoo.losses.bounds import combine_log_mean_exp, log_mean_exp, nats_to_bits_per_dim

__all__ = ["combine_log_mean_exp", "log_mean_exp", "nats_to_bits_per_dim"]
