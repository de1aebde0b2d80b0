from rofs.cli import main

main(prog_name="rofs")
