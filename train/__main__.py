"""Fine-tune a medchat adapter: `python -m train --config train/configs/smoke.yaml --max_steps 10`.

The recipe is a YAML file of `MedchatArguments`, `DataRecipe` and TRL `SFTConfig` fields; any field can be
overridden on the command line, TRL style.
"""

from __future__ import annotations

import logging
import os
import sys

# Packed batches change shape every step; with growable allocator segments the CUDA cache stops fragmenting (measured
# on an H200: the 8 GiB profile +61 % tokens/s at a lower peak, benchmarks/README.md). Set before torch starts CUDA;
# a value the user set wins.
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

from trl import TrlParser  # noqa: E402

from medchat.config import MedchatArguments, SFTConfigForHardware  # noqa: E402
from medchat.data import DataRecipe, DataValidationError  # noqa: E402
from medchat.training import run_training  # noqa: E402


def parse(argv: list[str] | None = None):
    return TrlParser((MedchatArguments, DataRecipe, SFTConfigForHardware)).parse_args_and_config(argv)


def main(argv: list[str] | None = None):
    if not logging.getLogger().handlers:
        logging.basicConfig(format="[%(name)s] %(message)s")
    logging.getLogger("medchat").setLevel(logging.INFO)
    args, recipe, training_args = parse(argv)
    try:
        return run_training(args, recipe, training_args)
    except DataValidationError as exc:  # the user's data: the message says what to fix, a traceback would not
        sys.stderr.write(f"python -m train: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
