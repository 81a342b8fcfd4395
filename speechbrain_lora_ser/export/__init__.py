"""The exported model folder (SpeechBrain's pretrained-model form)."""
