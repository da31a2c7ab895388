"""The AI assistant: requests, the conversation manager, the model client, suggestions in the
document, and the records the learning loop reads."""
