"""Warm sandboxes: built ahead of demand per flavor, handed out once, refilled in the
background."""

from execbox.pool.warm_pool import Flavor, PoolExhausted, PoolSettings, WarmPool

__all__ = ["Flavor", "PoolExhausted", "PoolSettings", "WarmPool"]
