"""Fine-tune a medchat adapter: `python -m train --config train/configs/smoke.yaml --max_steps 10`.

The recipe is a YAML file of `MedchatArguments`, `DataRecipe` and TRL `SFTConfig` fields; any field can be
overridden on the command line, TRL style.
"""

from __future__ import annotations

import os

# Packed batches change shape every step; with growable allocator segments the CUDA cache stops fragmenting (measured
# on an H200: the 8 GiB profile +61 % tokens/s at a lower peak, benchmarks/README.md). Set before torch starts CUDA;
# a value the user set wins.
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

from trl import TrlParser  # noqa: E402

from medchat.config import MedchatArguments, SFTConfigForHardware  # noqa: E402
from medchat.data import DataRecipe  # noqa: E402
from medchat.training import run_training  # noqa: E402


def parse(argv: list[str] | None = None):
    return TrlParser((MedchatArguments, DataRecipe, SFTConfigForHardware)).parse_args_and_config(argv)


def main(argv: list[str] | None = None):
    args, recipe, training_args = parse(argv)
    return run_training(args, recipe, training_args)


if __name__ == "__main__":
    main()
