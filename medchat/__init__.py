"""medchat: QLoRA fine-tuning and serving of a medical chat assistant."""
__version__ = "0.1.0"
