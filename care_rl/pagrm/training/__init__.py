"""PA-GRM judge training: teacher traces (endpoint or synthetic teacher), LoRA-SFT, and a check of the result."""
