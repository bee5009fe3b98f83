"""Fine-tune a medchat adapter: `python -m train --config train/configs/smoke.yaml --max_steps 10`.

The recipe is a YAML file of `MedchatArguments`, `DataRecipe` and TRL `SFTConfig` fields; any field can be
overridden on the command line, TRL style.
"""

from __future__ import annotations

from trl import TrlParser

from medchat.config import MedchatArguments, SFTConfigForHardware
from medchat.data import DataRecipe
from medchat.training import run_training


def parse(argv: list[str] | None = None):
    return TrlParser((MedchatArguments, DataRecipe, SFTConfigForHardware)).parse_args_and_config(argv)


def main(argv: list[str] | None = None):
    args, recipe, training_args = parse(argv)
    return run_training(args, recipe, training_args)


if __name__ == "__main__":
    main()
