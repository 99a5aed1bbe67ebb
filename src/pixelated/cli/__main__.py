from pixelated.cli.main import cli

cli(prog_name="pixelated")
