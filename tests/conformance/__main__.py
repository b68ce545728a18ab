"""``python -m tests.conformance``: replay every recording and print the summary."""

from tests.conformance.replay import render, replay_all, summary

if __name__ == "__main__":
    print(render(summary(replay_all())))
