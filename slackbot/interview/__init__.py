"""The interview core: which thread is which conversation (registry), one conversation's
turns, its questions, the pool of live Claude processes, spend per thread, delivery of the
spec, and what a restart finishes. It joins the Slack side and the Claude side."""
