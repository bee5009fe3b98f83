"""`python -m train --config train/configs/RECIPE.yaml [--field value ...]`: see medchat/training.py."""
