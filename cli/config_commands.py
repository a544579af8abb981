"""``hoststate config show``: the options as hoststate read them."""
from hoststate import conf as hs_conf
from hoststate.cli import common


def add_commands(commands):
    config = commands.add_parser(
        "config", help="show the configuration hoststate reads")
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show", help="print every option's value (secrets masked)")
    show.add_argument("--group", help="only this group (DEFAULT for the "
                                      "options outside any group)")
    show.set_defaults(handler=show_command)


def show_command(args):
    conf = common.load_conf(args)
    rows = []
    for group, opts in hs_conf.list_opts():
        if args.group and args.group != group:
            continue
        section = conf if group == "DEFAULT" else conf[group]
        for opt in sorted(opts, key=lambda o: o.dest):
            value = section[opt.dest]
            if opt.secret and value is not None:
                value = "****"
            rows.append((group, opt.dest, value))
    common.print_table(("group", "option", "value"), rows)

