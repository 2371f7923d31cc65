"""`tutela site ...`: the site's role, signing key, trusted demo sites and promotion links."""

from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tutela.sites import actions, demo_data
from tutela.sites.models import DriftControl, PromotionLink, Role, TrustedSigner


class Command(BaseCommand):
    help = (
        "Manage this site: its role (demo or production), its signing key, the demo sites a "
        "production site trusts and their promotion links, and a demo site's synthetic data."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        init = commands.add_parser("init", help="Set the site's role and name at install.")
        init.add_argument("--role", required=True, choices=Role.values)
        init.add_argument("--name", required=True, help="The site's name, shown on every page")
        init.add_argument(
            "--drift-control",
            choices=DriftControl.values,
            help="lock: reject local configuration edits; report (default): allow them and "
            "report them as drift in the next promotion plan",
        )

        commands.add_parser("show", help="Print the site's role, name, key id and public key.")

        drift = commands.add_parser(
            "drift-control", help="Lock or allow local configuration edits."
        )
        drift.add_argument("value", choices=DriftControl.values)

        keygen = commands.add_parser(
            "keygen",
            help="Write a new Ed25519 signing key pair: the private key into the secrets file, "
            "the public key into the database. Prints the public key.",
        )
        keygen.add_argument(
            "--secrets-file", type=Path, help="Secrets file (default: TUTELA_SECRETS_FILE)"
        )

        trust = commands.add_parser(
            "trust", help="Trust a demo site's public key (on the production site)."
        )
        trust.add_argument("name", help="A name for the demo site")
        trust.add_argument("public_key", help="The public key `tutela site keygen` printed")

        commands.add_parser("signers", help="List the trusted demo sites.")

        link = commands.add_parser(
            "link", help="Create a promotion link for a trusted demo site; prints its token once."
        )
        link.add_argument("name")
        link.add_argument("--signer", required=True, metavar="KEY_ID")

        unlink = commands.add_parser("unlink", help="Revoke a promotion link.")
        unlink.add_argument("name")

        wipe = commands.add_parser(
            "wipe", help="Delete every record of a demo site (dry run without --execute)."
        )
        wipe.add_argument("--execute", action="store_true", help="Really delete")

        reseed = commands.add_parser(
            "reseed",
            help="Wipe a demo site's records and write new synthetic cases "
            "(dry run without --execute).",
        )
        reseed.add_argument(
            "--cases", type=int, default=1000, help="Number of cases (default 1000)"
        )
        reseed.add_argument("--execute", action="store_true", help="Really wipe and reseed")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"handle_{options['action'].replace('-', '_')}")(options)
        except actions.SiteError as e:
            raise CommandError(str(e), returncode=1) from None

    def handle_init(self, options: dict[str, Any]) -> None:
        site = actions.init_site(options["role"], options["name"], options["drift_control"])
        self.stdout.write(
            f"Site {site.name} is a {site.role} site (drift control: {site.drift_control}). "
            "Restart the web server so that it shows the change."
        )

    def handle_show(self, options: dict[str, Any]) -> None:
        site = actions.current_site()
        if site is None:
            self.stdout.write(f"Not initialised; role from TUTELA_SITE_ROLE: {actions.site_role()}")
            return
        self.stdout.write(f"name: {site.name}\nrole: {site.role}\n")
        self.stdout.write(f"drift control: {site.drift_control}\n")
        self.stdout.write(f"key id: {site.key_id or '-'}\npublic key: {site.public_key or '-'}\n")

    def handle_drift_control(self, options: dict[str, Any]) -> None:
        site = actions.set_drift_control(options["value"])
        self.stdout.write(
            f"Drift control: {site.drift_control}. Restart the web server so that it applies."
        )

    def handle_keygen(self, options: dict[str, Any]) -> None:
        key_id, public_key = actions.keygen(options["secrets_file"])
        self.stderr.write(
            f"Wrote the private key to the secrets file. Key id {key_id}. Register the public "
            "key on the production site with `tutela site trust NAME PUBLIC_KEY`:"
        )
        self.stdout.write(public_key)

    def handle_trust(self, options: dict[str, Any]) -> None:
        signer = actions.trust_signer(options["name"], options["public_key"])
        self.stdout.write(f"Trusted {signer.name}: key id {signer.key_id}.")

    def handle_signers(self, options: dict[str, Any]) -> None:
        for signer in TrustedSigner.objects.order_by("name"):
            links = ", ".join(
                PromotionLink.objects.filter(signer=signer, revoked=False).values_list(
                    "name", flat=True
                )
            )
            state = "revoked" if signer.revoked else "trusted"
            self.stdout.write(f"{signer.key_id}  {signer.name}  {state}  links: {links or '-'}")

    def handle_link(self, options: dict[str, Any]) -> None:
        link, token = actions.create_link(options["name"], options["signer"])
        self.stderr.write(
            f"Created the promotion link {link.name}. Its token is shown once; put it into "
            "the demo site's secrets file as promotion_token:"
        )
        self.stdout.write(token)

    def handle_unlink(self, options: dict[str, Any]) -> None:
        actions.revoke_link(options["name"])
        self.stdout.write(f"Revoked the promotion link {options['name']}.")

    def handle_wipe(self, options: dict[str, Any]) -> None:
        actions.require_demo("Wiping records")
        if not options["execute"]:
            counts = demo_data.count_demo_data()
            self.stdout.write(
                f"Dry run: would delete {counts.records:,} records, {counts.history_rows:,} "
                f"history rows and {counts.attachments:,} attachments. Add --execute."
            )
            return
        summary = demo_data.wipe_demo_data()
        self.stdout.write(
            f"Deleted {summary.records:,} records, {summary.history_rows:,} history rows and "
            f"{summary.attachments:,} attachments."
        )

    def handle_reseed(self, options: dict[str, Any]) -> None:
        actions.require_demo("Reseeding")
        if options["cases"] < 1:
            raise CommandError(f"--cases {options['cases']} must be 1 or more.", returncode=2)
        if not options["execute"]:
            counts = demo_data.count_demo_data()
            self.stdout.write(
                f"Dry run: would delete {counts.records:,} records and write "
                f"{options['cases']:,} synthetic cases. Add --execute."
            )
            return
        self.handle_wipe({"execute": True})
        call_command("seed", "synthetic", "--cases", str(options["cases"]), stdout=self.stdout)
