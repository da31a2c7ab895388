"""The chaos suite (issue 23.10): real Yjs clients typing through three pods while pods,
Valkey and a pod's stream follower fail and one pod takes malformed frames. Run with
``python -m bench.chaos [--quick]``; bench/README.md says what it prints."""
