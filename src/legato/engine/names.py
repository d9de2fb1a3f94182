"""Readable flow-run names (``brisk-heron``), easier to say than an id."""

from __future__ import annotations

import random

_ADJECTIVES = ["amber", "agile", "bold", "brave", "brisk", "calm", "clever", "cosmic", "crisp", "daring", "deft", "eager", "fair", "fast", "fearless", "gentle", "glad", "golden", "grand", "happy", "hardy", "humble", "jolly", "keen", "kind", "lively", "lucky", "mellow", "merry", "mighty", "nimble", "noble", "patient", "plucky", "polite", "proud", "quick", "quiet", "rapid", "ready", "robust", "rustic", "shiny", "silent", "silver", "smooth", "snappy", "spry", "steady", "stellar", "sunny", "swift", "tidy", "tranquil", "upbeat", "valiant", "vivid", "warm", "wise", "witty", "zesty"]
_NOUNS = ["albatross", "badger", "beaver", "bison", "caribou", "cheetah", "condor", "coyote", "crane", "dolphin", "eagle", "falcon", "ferret", "finch", "fox", "gazelle", "gecko", "heron", "ibex", "jaguar", "kestrel", "koala", "lemur", "leopard", "lynx", "magpie", "marmot", "marten", "meerkat", "mole", "moose", "narwhal", "newt", "ocelot", "orca", "osprey", "otter", "owl", "panda", "panther", "pelican", "penguin", "puffin", "quail", "raven", "robin", "salmon", "seal", "sparrow", "stork", "swan", "tapir", "tiger", "toucan", "turtle", "walrus", "wombat", "wren", "yak", "zebra"]


def generate_run_name() -> str:
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}"
