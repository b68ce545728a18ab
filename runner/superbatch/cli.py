def main() -> None:
    print("superbatch")
