"""Redaction: secrets and <private> blocks never reach the store or an LLM.

Every secret below is fake but format-valid, and assembled at run time from pieces, so this
file holds nothing a secret scanner would flag.
"""

from __future__ import annotations

import base64
import random
import string
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcp_memory.redaction.redact import PRIVATE_MARKER, Redaction, marker, redact, strip_private

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def fake(n: int, alphabet: str = ALNUM, seed: str = "") -> str:
    """A deterministic random string; always holds a digit and a letter when both are allowed."""
    rng = random.Random(f"{seed}/{n}/{alphabet}")
    while True:
        s = "".join(rng.choice(alphabet) for _ in range(n))
        digits = set(alphabet) & set(string.digits)
        letters = set(alphabet) & set(string.ascii_letters)
        if (not digits or set(s) & digits) and (not letters or set(s) & letters):
            return s


def p(*parts: str) -> str:
    """Join pieces, so that no prefix sits next to its body in this file."""
    return "".join(parts)


def armor(word: str, label: str) -> str:
    """A PEM boundary line, assembled so that this file holds none."""
    return f"{'-' * 5}{word} {label}{'-' * 5}"


RSA_BEGIN, RSA_END = armor("BEGIN", "RSA PRIVATE KEY"), armor("END", "RSA PRIVATE KEY")


def pem(label: str, seed: str, lines: int = 6, sep: str = "\n") -> tuple[str, list[str]]:
    body = [fake(64, B64, f"{seed}{i}") for i in range(lines)] + [fake(20, B64, seed) + "=="]
    block = sep.join([armor("BEGIN", label), *body, armor("END", label)])
    return block, body


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    secrets: tuple[str, ...]  # none of these may survive
    text: str
    keep: tuple[str, ...]  # all of these must survive


def case(id: str, kind: str, secret: str, template: str, *keep: str) -> Case:
    return Case(id, kind, (secret,), template.replace("{s}", secret), keep)


def _cases() -> list[Case]:
    aws_id = p("AK", "IA", fake(16, UPPER, "aws"))
    aws_secret = fake(40, B64, "aws-secret")
    rsa, rsa_body = pem("RSA PRIVATE KEY", "rsa")
    ossh, ossh_body = pem("OPENSSH PRIVATE KEY", "openssh")
    pgp, pgp_body = pem("PGP PRIVATE KEY BLOCK", "pgp", lines=8)
    gcp, gcp_body = pem("PRIVATE KEY", "gcp", sep="\\n")
    basic = base64.b64encode(b"alice:" + fake(14, seed="basic").encode()).decode()
    jwt = p("ey", "J", fake(30, URLSAFE, "h"), ".ey", "J", fake(60, URLSAFE, "b"), ".")
    jwt += fake(43, URLSAFE, "sig")
    azure_key = fake(86, B64, "azure") + "=="
    discord = p("M", fake(23, ALNUM, "d1"), ".", fake(6, URLSAFE, "d2"), ".")
    discord += fake(27, URLSAFE, "d3")
    return [
        case(
            "aws-key-id",
            "aws_access_key_id",
            aws_id,
            "$ aws configure set aws_access_key_id {s} --profile prod\n",
            "aws configure set aws_access_key_id",
            "--profile prod",
        ),
        Case(
            "aws-credentials-file",
            "aws_secret_access_key",
            (aws_id, aws_secret),
            f"[default]\naws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\n"
            "region = eu-west-1\n",
            ("[default]", "aws_secret_access_key = ", "region = eu-west-1"),
        ),
        case(
            "github-classic-in-clone-url",
            "github_token",
            p("gh", "p_", fake(36, seed="gh")),
            "git clone https://x-access-token:{s}@github.com/acme/api.git\n",
            "https://x-access-token:",
            "@github.com/acme/api.git",
        ),
        case(
            "github-fine-grained",
            "github_token",
            p("github", "_pat_", fake(22, seed="g1"), "_", fake(59, seed="g2")),
            "GITHUB_TOKEN={s} gh pr list --state open",
            "GITHUB_TOKEN=",
            "gh pr list",
        ),
        case(
            "gitlab-header",
            "gitlab_token",
            p("gl", "pat-", fake(20, URLSAFE, "gl")),
            'curl --header "PRIVATE-TOKEN: {s}" "https://gitlab.com/api/v4/projects"',
            "PRIVATE-TOKEN: ",
            "https://gitlab.com/api/v4/projects",
        ),
        case(
            "openai-project-key",
            "openai_api_key",
            p("sk", "-proj-", fake(100, URLSAFE, "oa")),
            'client = OpenAI(api_key="{s}")\nresp = client.responses.create(model="gpt-5")',
            "client = OpenAI(api_key=",
            'model="gpt-5"',
        ),
        case(
            "openai-legacy-env",
            "openai_api_key",
            p("sk", "-", fake(20, seed="o1"), "T3Blbk", "FJ", fake(20, seed="o2")),
            "OPENAI_API_KEY={s}\nOPENAI_ORG=org-acme\n",
            "OPENAI_API_KEY=",
            "OPENAI_ORG=org-acme",
        ),
        case(
            "anthropic-json",
            "anthropic_api_key",
            p("sk", "-ant-", "api03-", fake(93, URLSAFE, "ant"), "AA"),
            '{"anthropic_api_key": "{s}", "model": "claude-sonnet-4-5"}',
            '"anthropic_api_key": "',
            '"model": "claude-sonnet-4-5"',
        ),
        case(
            "anthropic-admin",
            "anthropic_api_key",
            p("sk", "-ant-", "admin01-", fake(93, URLSAFE, "adm"), "AA"),
            "export ANTHROPIC_ADMIN_KEY={s}",
            "export ANTHROPIC_ADMIN_KEY=",
        ),
        case(
            "google-api-key-in-url",
            "google_api_key",
            p("AI", "za", fake(35, URLSAFE, "g")),
            "GET https://maps.googleapis.com/maps/api/geocode/json?address=Paris&key={s} 200",
            "address=Paris&key=",
            " 200",
        ),
        case(
            "google-oauth-client-secret",
            "google_oauth_secret",
            p("GOC", "SPX-", fake(28, URLSAFE, "gc")),
            '{"installed":{"client_id":"1234-abc.apps.googleusercontent.com",'
            '"client_secret":"{s}"}}',
            '"client_id":"1234-abc.apps.googleusercontent.com"',
            '"client_secret":"',
        ),
        case(
            "google-oauth-access-token",
            "google_oauth_token",
            p("ya", "29.", fake(150, URLSAFE, "ya")),
            '{"access_token": "{s}", "expires_in": 3599, "token_type": "Bearer"}',
            '"expires_in": 3599',
            '"token_type": "Bearer"',
        ),
        case(
            "slack-bot-token-yaml",
            "slack_token",
            p(
                "xo",
                "xb-",
                fake(12, string.digits, "s1"),
                "-",
                fake(13, string.digits, "s2"),
                "-",
                fake(24, seed="s3"),
            ),
            "env:\n  SLACK_BOT_TOKEN: {s}\n  CHANNEL: '#deploys'\n",
            "SLACK_BOT_TOKEN: ",
            "CHANNEL: '#deploys'",
        ),
        case(
            "slack-app-token",
            "slack_token",
            p(
                "xa",
                "pp-1-",
                fake(11, UPPER, "a1"),
                "-",
                fake(13, string.digits, "a2"),
                "-",
                fake(64, HEX, "a3"),
            ),
            "app = App(token=bot_token)\nSocketModeHandler(app, '{s}').start()",
            "SocketModeHandler(app, '",
        ),
        case(
            "slack-webhook",
            "slack_webhook",
            p("T", fake(8, UPPER, "w1"), "/B", fake(8, UPPER, "w2"), "/", fake(24, seed="w3")),
            'curl -X POST -d \'{"text":"deploy done"}\' https://hooks.slack.com/services/{s}',
            "https://hooks.slack.com/services/",
            "deploy done",
        ),
        case(
            "stripe-live-key-in-traceback",
            "stripe_key",
            p("sk", "_live_", fake(24, seed="st")),
            'Traceback (most recent call last):\n  File "billing.py", line 12, in charge\n'
            "stripe.error.AuthenticationError: Invalid API Key provided: {s}\n",
            'File "billing.py", line 12',
            "Invalid API Key provided: ",
        ),
        case(
            "stripe-webhook-secret",
            "stripe_webhook_secret",
            p("wh", "sec_", fake(32, seed="wh")),
            "STRIPE_WEBHOOK_SECRET={s}\n",
            "STRIPE_WEBHOOK_SECRET=",
        ),
        case(
            "twilio-api-key",
            "twilio_api_key",
            p("S", "K", fake(32, HEX, "tw")),
            'client = Client("{s}", api_secret, account_sid)',
            "client = Client(",
            "api_secret",
        ),
        case(
            "sendgrid",
            "sendgrid_api_key",
            p("S", "G.", fake(22, URLSAFE, "sg1"), ".", fake(43, URLSAFE, "sg2")),
            "sg = SendGridAPIClient('{s}')\nsg.send(message)",
            "sg.send(message)",
        ),
        case(
            "npmrc",
            "npm_token",
            p("np", "m_", fake(36, seed="npm")),
            "registry=https://registry.npmjs.org/\n//registry.npmjs.org/:_authToken={s}\n",
            "registry=https://registry.npmjs.org/",
            "//registry.npmjs.org/:_authToken=",
        ),
        case(
            "pypirc",
            "pypi_token",
            p("py", "pi-", "AgEIcHlwaS5vcmc", fake(120, URLSAFE, "py")),
            "[pypi]\nusername = __token__\npassword = {s}\n",
            "username = __token__",
            "[pypi]",
        ),
        case(
            "huggingface",
            "huggingface_token",
            p("h", "f_", fake(34, string.ascii_letters, "hf")),
            "$ huggingface-cli login --token {s}\nLogin successful",
            "huggingface-cli login --token ",
            "Login successful",
        ),
        case(
            "jwt-bearer-curl",
            "jwt",
            jwt,
            'curl -H "Authorization: Bearer {s}" https://api.example.com/v1/me',
            "Authorization: Bearer ",
            "https://api.example.com/v1/me",
        ),
        case(
            "bearer-http-dump",
            "bearer_token",
            fake(40, seed="bearer"),
            "> GET /v1/me HTTP/1.1\n> Host: api.example.com\n> Authorization: Bearer {s}\n"
            "> Accept: */*\n",
            "> Host: api.example.com",
            "Authorization: Bearer ",
            "> Accept: */*",
        ),
        Case(
            "basic-auth-header",
            "basic_auth",
            (basic, fake(14, seed="basic")),
            f"requests.get(url, headers={{'Authorization': 'Basic {basic}'}})",
            ("requests.get(url, headers=", "'Authorization': 'Basic "),
        ),
        Case(
            "rsa-private-key",
            "private_key",
            tuple(rsa_body),
            f"$ cat ~/.ssh/deploy_key\n{rsa}\n$ chmod 600 ~/.ssh/deploy_key\n",
            ("$ cat ~/.ssh/deploy_key", "$ chmod 600 ~/.ssh/deploy_key"),
        ),
        Case(
            "openssh-private-key",
            "private_key",
            tuple(ossh_body),
            f"Found key:\n{ossh}\n",
            ("Found key:",),
        ),
        Case(
            "pgp-private-key-block",
            "private_key",
            tuple(pgp_body),
            f"gpg --export-secret-keys --armor\n{pgp}\ndone",
            ("gpg --export-secret-keys", "done"),
        ),
        Case(
            "private-key-in-service-account-json",
            "private_key",
            tuple(gcp_body),
            f'{{"type": "service_account", "private_key": "{gcp}\\n", '
            '"client_email": "ci@acme.iam.gserviceaccount.com"}',
            ('"type": "service_account"', '"client_email": "ci@acme.iam.gserviceaccount.com"'),
        ),
        case(
            "postgres-url-password",
            "url_password",
            fake(18, seed="pg"),
            "DATABASE_URL=postgres://app_user:{s}@db.internal:5432/app\n",
            "DATABASE_URL=postgres://app_user:",
            "@db.internal:5432/app",
        ),
        case(
            "mongodb-srv-in-traceback",
            "url_password",
            fake(16, seed="mongo"),
            "pymongo.errors.ServerSelectionTimeoutError: mongodb+srv://admin:{s}"
            "@cluster0.ab1cd.mongodb.net/?retryWrites=true timed out",
            "mongodb+srv://admin:",
            "@cluster0.ab1cd.mongodb.net/?retryWrites=true timed out",
        ),
        case(
            "redis-url-no-user",
            "url_password",
            fake(20, seed="redis"),
            "REDIS_URL=redis://:{s}@cache:6379/0",
            "redis://:",
            "@cache:6379/0",
        ),
        case(
            "env-quoted",
            "password",
            "c0rrect-h0rse!",
            "export DB_PASSWORD='{s}'\nexport DB_HOST=db.internal",
            "export DB_PASSWORD='",
            "export DB_HOST=db.internal",
        ),
        case(
            "yaml-password",
            "password",
            "Tr0ub4dor&3",
            "database:\n  host: db\n  password: {s}\n  port: 5432\n",
            "host: db",
            "password: ",
            "port: 5432",
        ),
        case(
            "json-password",
            "password",
            "hunter2!x",
            '{"username": "alice", "password": "{s}", "remember": true}',
            '"username": "alice"',
            '"password": "',
            '"remember": true',
        ),
        case(
            "docker-run-env",
            "password",
            "s3cret-Pg-pass",
            "docker run -d -e POSTGRES_PASSWORD={s} -p 5432:5432 postgres:16",
            "-e POSTGRES_PASSWORD=",
            "-p 5432:5432 postgres:16",
        ),
        case(
            "django-secret-key",
            "secret",
            "django-insecure-" + fake(40, seed="dj"),
            'DEBUG = False\nSECRET_KEY = "{s}"\nALLOWED_HOSTS = ["*"]',
            "SECRET_KEY = ",
            "DEBUG = False",
            'ALLOWED_HOSTS = ["*"]',
        ),
        case(
            "api-key-header-dict",
            "api_key",
            fake(32, HEX, "xapi"),
            'headers = {"X-API-Key": "{s}", "Accept": "application/json"}',
            '"X-API-Key": "',
            '"Accept": "application/json"',
        ),
        case(
            "azure-storage-connection-string",
            "azure_storage_key",
            azure_key,
            "DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey={s};"
            "EndpointSuffix=core.windows.net",
            "AccountName=acmestore;AccountKey=",
            ";EndpointSuffix=core.windows.net",
        ),
        case(
            "ado-net-connection-string",
            "password",
            "P@ssw0rd-2024",
            "Server=tcp:sql.example.net,1433;Database=app;User ID=sa;Password={s};Encrypt=True",
            "User ID=sa;Password=",
            ";Encrypt=True",
        ),
        case(
            "libpq-dsn",
            "password",
            "pg-s3cret",
            'psycopg.connect("host=db.internal dbname=app user=app password={s}")',
            'psycopg.connect("host=db.internal dbname=app user=app password=',
        ),
        case("discord-bot-token", "discord_bot_token", discord, 'bot.run("{s}")', 'bot.run("'),
        case(
            "telegram-bot-token",
            "telegram_bot_token",
            p(fake(10, string.digits, "tg"), ":A", "A", fake(33, URLSAFE, "tg2")),
            "requests.get(f'https://api.telegram.org/bot{s}/getMe')",
            "https://api.telegram.org/bot",
            "/getMe",
        ),
        case(
            "digitalocean",
            "digitalocean_token",
            p("do", "p_v1_", fake(64, HEX, "do")),
            "doctl auth init --access-token {s}",
            "doctl auth init --access-token ",
        ),
        case(
            "shopify",
            "shopify_token",
            p("shp", "at_", fake(32, HEX, "shp")),
            "X-Shopify-Access-Token: {s}\nContent-Type: application/json",
            "X-Shopify-Access-Token: ",
            "Content-Type: application/json",
        ),
        case(
            "mailgun",
            "mailgun_api_key",
            p("ke", "y-", fake(32, HEX, "mg")),
            "curl -s --user 'api:{s}' https://api.mailgun.net/v3/mg.example.com/messages",
            "curl -s --user 'api:",
            "https://api.mailgun.net/v3/mg.example.com/messages",
        ),
        case(
            "curl-user-password",
            "basic_auth",
            "n0t-Guessable",
            "curl -u deploy:{s} https://ci.example.com/api/json",
            "curl -u deploy:",
            "https://ci.example.com/api/json",
        ),
        case(
            "mysql-cli-flag",
            "password",
            "R00tPass!",
            "mysql --user=root --password={s} app < dump.sql",
            "mysql --user=root --password=",
            "app < dump.sql",
        ),
        case(
            "docker-login-short-flag",
            "password",
            "dckr-" + fake(16, seed="dockerlogin"),
            "docker login -u ci -p {s} registry.example.com",
            "docker login -u ci -p ",
            "registry.example.com",
        ),
        case(
            "mysql-glued-password",
            "password",
            "Gl" + fake(10, seed="mysqlglued"),
            "mysql -h db.internal -u root -p{s} shop < seed.sql",
            "mysql -h db.internal -u root -p",
            "shop < seed.sql",
        ),
        case(
            "aws-configure-set",
            "secret",
            fake(40, B64, "awscfg"),
            "aws configure set aws_secret_access_key {s} --profile ci",
            "aws configure set aws_secret_access_key ",
            "--profile ci",
        ),
        case(
            "npm-config-auth-token",
            "secret",
            fake(36, seed="npmcfg"),
            "npm config set //registry.npmjs.org/:_authToken {s}",
            "npm config set //registry.npmjs.org/:_authToken ",
        ),
        case(
            "x-api-key-header",
            "api_key",
            fake(32, seed="xapikey"),
            'curl -H "X-Api-Key: {s}" https://api.example.com/v1/items',
            'curl -H "X-Api-Key: ',
            "https://api.example.com/v1/items",
        ),
        case(
            "netrc",
            "password",
            "netrc-" + fake(12, seed="netrc"),
            "machine api.example.com\n  login alice\n  password {s}\n",
            "machine api.example.com",
            "login alice",
        ),
        case(
            "maven-settings-xml",
            "password",
            "mvn-" + fake(12, seed="mvn"),
            "<server><id>nexus</id><username>deploy</username><password>{s}</password></server>",
            "<id>nexus</id>",
            "<username>deploy</username>",
            "<password>",
        ),
        case(
            "set-cookie",
            "cookie",
            fake(32, seed="cookie"),
            "< HTTP/2 200\n< set-cookie: sessionid={s}; Path=/; HttpOnly; Secure\n",
            "< HTTP/2 200",
            "sessionid=",
            "Path=/; HttpOnly",
        ),
        case(
            "s3-presigned-url",
            "url_signature",
            fake(64, HEX, "s3sig"),
            "https://acme.s3.amazonaws.com/build.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Date=20240101T000000Z&X-Amz-Signature={s}",
            "https://acme.s3.amazonaws.com/build.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "&X-Amz-Signature=",
        ),
        case(
            "vault-token",
            "vault_token",
            p("hv", "s.", fake(90, URLSAFE, "vault")),
            "VAULT_ADDR=https://vault.internal:8200 VAULT_TOKEN={s} vault kv get secret/app",
            "VAULT_ADDR=https://vault.internal:8200",
            "vault kv get secret/app",
        ),
        case(
            "age-secret-key",
            "age_secret_key",
            p("AGE-SEC", "RET-KEY-1", fake(58, UPPER, "age")),
            "# created: 2024-01-01\n# public key: age1qqq\n{s}\n",
            "# public key: age1qqq",
        ),
        case(
            "groq-key",
            "api_key",
            p("gs", "k_", fake(52, seed="groq")),
            "GROQ_API_KEY={s} python agent.py",
            "GROQ_API_KEY=",
            "python agent.py",
        ),
        case(
            "azure-client-secret",
            "azure_client_secret",
            p(fake(3, seed="az1"), "8Q", "~", fake(34, ALNUM + "_~.-", "az2")),
            "AZURE_TENANT_ID=acme\nAZURE_CLIENT_SECRET={s}\n",
            "AZURE_TENANT_ID=acme",
            "AZURE_CLIENT_SECRET=",
        ),
        case(
            "escaped-json-tool-result",
            "password",
            "esc4ped-Pass",
            '{"stdout": "{\\"user\\": \\"bob\\", \\"password\\": \\"{s}\\"}"}',
            '\\"user\\": \\"bob\\"',
            '\\"password\\": \\"',
        ),
        case(
            "ini-password",
            "password",
            "iniPass99",
            "[client]\nuser = backup\npassword = {s}\nhost = localhost\n",
            "user = backup",
            "host = localhost",
        ),
        case(
            "properties-password",
            "password",
            "spring-Pw-1",
            "spring.datasource.url=jdbc:postgresql://db:5432/app\nspring.datasource.password={s}\n",
            "spring.datasource.url=jdbc:postgresql://db:5432/app",
            "spring.datasource.password=",
        ),
    ]


CASES = _cases()


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_secret_is_redacted_and_context_kept(c: Case) -> None:
    """Each secret format disappears, its kind is reported, and the text around it survives."""
    result = redact(c.text)
    for secret in c.secrets:
        assert secret not in result.text, result.text
    for kept in c.keep:
        assert kept in result.text, result.text
    assert c.kind in result.kinds, result
    assert marker(c.kind) in result.text
    assert result.count >= 1


def test_corpus_is_large_and_varied() -> None:
    assert len(CASES) >= 25
    assert len({c.kind for c in CASES}) >= 25


def test_value_is_redacted_but_name_kept_in_assignments() -> None:
    text = "export GITHUB_TOKEN=abc123def456ghi789\nDB_PASS=pa55word\napiKey: 'k-9f8e7d6c5b4a'\n"
    assert redact(text).text == (
        "export GITHUB_TOKEN=[REDACTED:token]\nDB_PASS=[REDACTED:password]\n"
        "apiKey: '[REDACTED:api_key]'\n"
    )


def test_url_password_keeps_user_and_host() -> None:
    result = redact("connecting to amqp://guest:Gu3st-pw@rabbit.local:5672/vhost ...")
    assert result == Redaction(
        "connecting to amqp://guest:[REDACTED:url_password]@rabbit.local:5672/vhost ...",
        1,
        ("url_password",),
    )


def test_specific_kind_wins_over_generic_assignment() -> None:
    token = p("gh", "p_", fake(36, seed="spec"))
    assert redact(f"GITHUB_TOKEN={token}").text == "GITHUB_TOKEN=[REDACTED:github_token]"


def test_several_secrets_are_counted_with_sorted_kinds() -> None:
    aws = p("AK", "IA", fake(16, UPPER, "many"))
    text = f"A={aws}\nB={aws}\nDB_PASSWORD=x9y8z7\n"
    result = redact(text)
    assert result.count == 3
    assert result.kinds == ("aws_access_key_id", "password")


def test_truncated_private_key_is_still_redacted() -> None:
    """An unclosed BEGIN block (a `head` of the key file) fails closed."""
    block, body = pem("EC PRIVATE KEY", "trunc")
    truncated = block.split("-----END")[0].rstrip()
    result = redact(f"$ head -4 key.pem\n{truncated}")
    assert result.kinds == ("private_key",)
    assert all(line not in result.text for line in body)
    assert result.text.startswith("$ head -4 key.pem\n[REDACTED:private_key]")


def test_env_file_keeps_names_and_ordinary_values() -> None:
    text = (
        "# local settings\nexport DEBUG=true\nDB_HOST=db.internal\nDB_PASSWORD=pg-Pass-42\n"
        "API_TOKEN='tok_9f8e7d6c5b'\nLOG_LEVEL=info\nSTRIPE_KEY=${STRIPE_KEY}\n"
    )
    assert redact(text).text == (
        "# local settings\nexport DEBUG=true\nDB_HOST=db.internal\n"
        "DB_PASSWORD=[REDACTED:password]\nAPI_TOKEN='[REDACTED:token]'\nLOG_LEVEL=info\n"
        "STRIPE_KEY=${STRIPE_KEY}\n"
    )


def test_json_escaped_file_content_is_redacted_line_by_line() -> None:
    """A tool result may hold a whole file as one JSON string with \\n escapes."""
    token = p("gh", "p_", fake(36, seed="escaped"))
    text = '{"content": "DB_PASSWORD=pg-Pass-42\\n' + token + '\\nDEBUG=1\\n"}'
    result = redact(text)
    assert result.text == (
        '{"content": "DB_PASSWORD=[REDACTED:password]\\n[REDACTED:github_token]\\nDEBUG=1\\n"}'
    )


def test_command_line_flags() -> None:
    text = "deploy --api-key=Ab12Cd34Ef --password 'pa55 word' --db-password S3cret! --verbose"
    assert redact(text).text == (
        "deploy --api-key=[REDACTED:api_key] --password '[REDACTED:password]' "
        "--db-password [REDACTED:password] --verbose"
    )


def test_query_parameters_keep_the_rest_of_the_url() -> None:
    text = (
        "GET https://api.example.com/v1/items?access_token=a1b2c3d4e5&page=2&sig=Zm9vYmFyYmF6cXV4"
    )
    assert redact(text).text == (
        "GET https://api.example.com/v1/items?access_token=[REDACTED:token]&page=2"
        "&sig=[REDACTED:url_signature]"
    )


def test_every_cookie_value_in_a_cookie_header() -> None:
    text = "Cookie: sessionid=9f8e7d6c5b4a39281706; csrftoken=Q1w2E3r4T5y6U7i8; theme=dark"
    assert redact(text).text == (
        "Cookie: sessionid=[REDACTED:cookie]; csrftoken=[REDACTED:cookie]; theme=dark"
    )


def test_placeholder_tokens_are_not_secrets() -> None:
    text = (
        p("gh", "p_", "x" * 36)
        + " "
        + p("AK", "IA", "X" * 16)
        + ' api_key="test-api-key" token="hf_..." Authorization: Bearer ${TOKEN}'
    )
    assert redact(text) == Redaction(text, 0, ())


def test_key_needs_a_secret_prefix_or_a_random_value() -> None:
    """CACHE_KEY names a cache entry; OPENAI_KEY with a random value is a credential."""
    text = 'CACHE_KEY = "users"\nsort_key="name"\nOPENAI_KEY=Zx8Kq2Lm9Np4Rs7Tv1\n'
    assert redact(text).text == (
        'CACHE_KEY = "users"\nsort_key="name"\nOPENAI_KEY=[REDACTED:api_key]\n'
    )


def test_basic_in_prose_is_not_basic_auth() -> None:
    """'Basic' followed by a word is prose; only base64 of user:password is a credential."""
    text = "Basic authentication is enabled. Use Basic dXNlcg== only for tests."
    assert redact(text).text == text


def test_a_secret_cut_short_by_an_ellipsis_is_still_redacted() -> None:
    """A summary that truncates a key with '…' or '...' leaves a real secret in front of it;
    only a value with nothing secret left ('sk-...', 'abc…') is a placeholder."""
    key = p("sk", "-ant-api03-", fake(30, URLSAFE, "cut"))
    password = fake(14, seed="cut-pw")
    text = f"set ANTHROPIC_API_KEY={key}\u2026 and DB_PASSWORD={password}... in the profile"
    result = redact(text)
    assert key not in result.text and password not in result.text
    kept = 'OPENAI_API_KEY=sk-... token="abc\u2026" PASSWORD=...'
    assert redact(kept).text == kept


def test_whole_value_placeholders_are_kept() -> None:
    text = (
        "ADMIN_PASSWORD=changeme\nAPI_TOKEN=<your-token>\nDB_PASSWORD=${DB_PASSWORD}\n"
        + "GITHUB_TOKEN="
        + p("gh", "p_", "x" * 36)
        + "\nSTRIPE_KEY="
        + p("sk", "_live_", "X" * 24)
        + "\n"
    )
    assert redact(text) == Redaction(text, 0, ())


def test_a_key_body_without_its_begin_line_is_redacted() -> None:
    """An error tail can cut off a key's BEGIN line; the base64 lines that remain are key."""
    block, body = pem("RSA PRIVATE KEY", "headless", lines=8)
    tail = "\n".join(block.split("\n")[3:])
    result = redact(f"Error: could not parse key, last lines:\n{tail}\nexit 1")
    assert all(line not in result.text for line in body[2:])
    assert result.text.startswith("Error: could not parse key, last lines:\n[REDACTED:private_key]")
    assert result.text.endswith("exit 1")


def test_a_certificate_body_stays_with_or_without_its_armor_lines() -> None:
    """Base64 lines under a BEGIN CERTIFICATE line, or above an END CERTIFICATE line, are a
    certificate: public."""
    cert, _ = pem("CERTIFICATE", "cert", lines=8)
    assert redact(cert).text == cert
    tail = "\n".join(cert.split("\n")[3:])
    assert redact(tail).text == tail


def test_a_json_escaped_key_body_without_begin_is_redacted() -> None:
    """A service-account key in a JSON string (\\n escapes), cut before its BEGIN line."""
    block, body = pem("PRIVATE KEY", "sa-cut", sep="\\n")
    text = '{"private_key": "' + block.split("\\n", 2)[2] + '\\n", "client_email": "ci@x.iam"}'
    result = redact(text)
    assert all(line not in result.text for line in body[1:])
    assert '"client_email": "ci@x.iam"' in result.text


def test_base64_pem_in_kubeconfig_private_key_only() -> None:
    """client-key-data holds a PEM private key in base64; certificate-authority-data is public."""
    key, _ = pem("RSA PRIVATE KEY", "kube-key")
    cert, _ = pem("CERTIFICATE", "kube-ca")
    key64 = base64.b64encode(key.encode()).decode()
    cert64 = base64.b64encode(cert.encode()).decode()
    text = f"certificate-authority-data: {cert64}\nclient-key-data: {key64}\n"
    assert redact(text).text == (
        f"certificate-authority-data: {cert64}\nclient-key-data: [REDACTED:private_key]\n"
    )


@pytest.mark.parametrize(
    ("template", "secret"),
    [
        ("sshpass -p {s} ssh ops@10.0.0.5 uptime", "Kq7-Lm2-Wz9"),
        ("sshpass -p{s} rsync -a dist/ web:/srv", "Kq7Lm2Wz9x"),
        ("redis-cli -h cache -a {s} PING", "r3dis-Pass-7"),
        ("ldapwhoami -x -D 'cn=ci,dc=x' -w '{s}'", "Ld4p!pass"),
        ("mongodump -u backup -p {s} --out /backups", "M0ngo-Backup"),
        ("openssl pkcs12 -in a.p12 -nodes -passin pass:{s}", "P12-expOrt-9"),
        ("ssh-keygen -p -f id_ed25519 -P {s} -N ''", "0ld-Phrase-1"),
        ("keytool -list -keystore app.jks -storepass {s}", "st0re-Pass"),
        ("htpasswd -nb alice {s}", "Al1ce-Pw-22"),
        ("smbclient -L files -U 'CORP\\bob%{s}'", "B0b-Smb-Pw"),
        ("unzip -P {s} backup.zip", "Z1p-Secret"),
        ("Command '['mysqldump', '-uroot', '-p{s}', 'shop']' failed", "My5ql-Dump"),
        ("kubectl create secret generic x --from-literal=db-password={s}", "Kube-L1teral"),
    ],
)
def test_password_flags_by_tool(template: str, secret: str) -> None:
    """Tools whose password flag says nothing (-p, -a, -w, -N, -P, pass:, user%pw, -b)."""
    text = template.replace("{s}", secret)
    out = redact(text).text
    assert secret not in out
    assert out.split("[REDACTED:")[0] == template.split("{s}")[0]


def test_port_and_other_short_flags_stay() -> None:
    text = (
        "redis-cli -h cache -p 6380 PING\nmongosh --port 27017 -u app -p\n"
        "ssh-keygen -t ed25519 -N '' -f key\nopenssl enc -d -in x -passin env:PASSPHRASE\n"
        "openssl rsa -in key.pem -passin file:/run/secrets/pw\nhtpasswd -c /etc/htpasswd alice\n"
        "zip -r out.zip dist/\nssh -p 2222 host\n"
    )
    assert redact(text) == Redaction(text, 0, ())


def test_output_of_commands_that_print_a_secret() -> None:
    token = fake(32, HEX, "printed")
    text = f"$ openssl rand -hex 16\n{token}\n$ ls\nREADME.md\n"
    assert redact(text).text == "$ openssl rand -hex 16\n[REDACTED:secret]\n$ ls\nREADME.md\n"


@pytest.mark.parametrize(
    "text",
    [
        "the deploy password is Orchid-Lantern-58, don't share it",
        "I set the staging token to Zq8rT2mK9pL4wX7nV3 this morning",
        "rotated the key, new one: Hb7Tq2Lm9Xw4Rz8Kp1Ns",
        "wifi: CorpNet / passphrase Gr33n-Tea-Pot!",
    ],
)
def test_secrets_in_prose(text: str) -> None:
    out = redact(text).text
    assert "[REDACTED:" in out
    assert not any(c.isdigit() for c in out.split("[REDACTED:")[1].split("]", 1)[1][:20])


def test_prose_about_tokens_and_keys_is_kept() -> None:
    text = (
        "FLOPs per token of all-MiniLM-L6-v2 vs measured peak.\n"
        "The token count was 4096 and the password must have 12+ characters.\n"
        "Rotate the API key every 90 days; see RFC-6749 for the token endpoint.\n"
        "passwords will be encrypted using the MD5-based scheme\n"
        "the login for user alice2@example.com failed at 2024-05-01T12:00:00Z\n"
        "def sign(token: str, private key: Ed25519PrivateKey, type: pb2.ModelProto.Type2):\n"
        "9b8c7d6 Rotate signing key to Ed25519PrivateKey-based impl\n"
        "- name: TOKEN_TTL\n  value: '3600'\n- name: API_KEY_HEADER\n  value: X-Api-Key-v2\n"
    )
    assert redact(text) == Redaction(text, 0, ())


def test_name_value_fields_and_prompts() -> None:
    secret, key = "Env-Secret-42", fake(86, B64, "azure-key") + "=="
    text = (
        f"- name: DB_PASSWORD\n  value: {secret}\n- name: DB_HOST\n  value: db.internal\n"
        f'{{"keyName": "key1", "permissions": "FULL", "value": "{key}"}}\n'
        f"Enter the vault password [none]: {secret}2\n"
    )
    out = redact(text).text
    assert secret not in out and key not in out
    assert "value: db.internal" in out and '"keyName": "key1"' in out


def test_terraform_variable_defaults() -> None:
    text = (
        'variable "api_token" {\n  default = "tf-T0ken-Value"\n}\n'
        'variable "region" {\n  default = "eu-west-1"\n}\n'
        'variable "conn" {\n  sensitive = true\n  default   = "Server=db;Pwd=x1y2z3"\n}\n'
    )
    out = redact(text).text
    assert "tf-T0ken-Value" not in out and "x1y2z3" not in out
    assert 'default = "eu-west-1"' in out


def test_pgpass_lines() -> None:
    text = "$ cat ~/.pgpass\ndb:5432:app:app:Pg-Pass-31\n*:*:*:postgres:S3cond-One\n"
    out = redact(text).text
    assert "Pg-Pass-31" not in out and "S3cond-One" not in out
    assert "db:5432:app:app:" in out


def test_path_in_a_key_variable_is_not_a_secret() -> None:
    text = "S3_KEY=exports/2024/users.csv\nOBJECT_KEY=raw/2025/03/01/events-0001.json.gz\n"
    assert redact(text) == Redaction(text, 0, ())


# --- negative corpus: ordinary developer text comes through unchanged ---------------------------

NEGATIVES = {
    "git-log": "commit 3b67a48c1f0e9d2a7b6c5d4e3f2a1b0c9d8e7f6a\nAuthor: Jane Doe "
    "<jane@example.com>\nDate:   Mon May 6 10:00:00 2024 +0200\n\n    Fix token refresh race\n",
    "git-short-shas": "3b67a48 Skeleton: settings, model specs\nf00ba12 Rotate the API key docs",
    "uuids": 'request_id=8f14e45f-ceea-467f-a0e6-9a0c5f1c2b3d {"id": '
    '"550e8400-e29b-41d4-a716-446655440000"}',
    "sha256sum": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  "
    "dist/mcp_memory-0.1.0.tar.gz\nsha512: cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4",
    "paths": "/home/user/.ssh/id_rsa.pub ~/.config/gcloud/application_default_credentials.json "
    "tests/test_password_reset.py C:\\Users\\jane\\secrets\\README.md src/auth/token_store.py",
    "python-signature": "def login(username: str, password: str) -> Session:\n"
    '    """Log in.\n\n    Args:\n        username: The account name.\n'
    '        password: The user\'s password, never logged.\n    """\n'
    "    token = get_token()\n    return connect(user=username, password=password)\n",
    "python-references": "api_key = settings.api_key\ntoken = new_token\n"
    "secret = secrets.token_hex(16)\npassword = None\nself.password = password\n"
    'headers["Authorization"] = f"Bearer {token}"\n'
    'key = os.environ.get("API_KEY", "")\ncache_key = make_key(user)\n',
    "constants": "PASSWORD_MIN_LENGTH = 8\nMAX_TOKENS = 4096\nmax_tokens=1024\n"
    "TOKEN_URL = 'https://oauth2.googleapis.com/token'\nSESSION_TTL = 3600\n",
    "multiline-kwargs": "conn = psycopg.connect(\n    host=host,\n    password=password,\n"
    "    dbname=dbname,\n)\nclient = Client(api_key=api_key, token=token)\n",
    "prose": "The password must be rotated every 90 days. Never paste your API key or token "
    "into chat; ask for a secret only through the vault. The bearer of this token is trusted.",
    "urls-without-password": "https://github.com/acme/api/pull/42 postgres://db.internal:5432/app "
    "https://example.com:8443/path?user=alice&page=2 git@github.com:acme/api.git "
    "ssh://git@github.com:22/acme/api.git",
    "placeholders": 'export OPENAI_API_KEY=$OPENAI_API_KEY\nexport API_TOKEN="${API_TOKEN}"\n'
    'password: "{{ vault_db_password }}"\nAuthorization: Bearer <token>\n'
    'curl -H "Authorization: Bearer $TOKEN" https://api.example.com\n'
    "DB_PASSWORD=\napi_key: ${API_KEY}\n",
    "tokenizer-config": '{"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "[UNK]", '
    '"bos_token": "<|begin_of_text|>", "model_max_length": 512}',
    "base64-test-data": 'PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk'
    'YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==" # a 1x1 PNG used by the image tests',
    "public-keys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGfXq0Vb7pSg1Jt2R0m5n3k0yX jane@laptop\n"
    + armor("BEGIN", "PUBLIC KEY")
    + "\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
    + armor("END", "PUBLIC KEY")
    + "\n"
    + armor("BEGIN", "CERTIFICATE")
    + "\nMIIBszCCAVmgAwIBAgIU\n"
    + armor("END", "CERTIFICATE")
    + "\n",
    "typescript": "interface Config { apiKey: string; token?: string }\n"
    "const token = await getToken();\nconst auth = useAuth();\n",
    "fastapi": "async def me(authorization: str = Header(None), x_token: str | None = None):\n"
    "    ...\n",
    "env-output": "PWD=/home/user/project\nOLDPWD=/home/user\nSHELL=/bin/bash\n"
    "SSH_AUTH_SOCK=/tmp/ssh-XXXX/agent.123\n",
    "json-schema": '{"password": {"type": "string", "minLength": 8}, "token": {"type": "string"}}',
    "k8s-secret-ref": "valueFrom:\n  secretKeyRef:\n    name: db\n    key: password\n",
    "log-line": "2024-05-01T12:00:00Z INFO token refreshed for user=alice expires_in=3600 "
    "status=200 bypass=false",
    "html-form": '<input type="password" name="password" autocomplete="current-password">',
    "twilio-account-sid": "https://api.twilio.com/2010-04-01/Accounts/"
    + p("A", "C", fake(32, HEX, "sid"))
    + "/Messages.json",
    "stripe-publishable": "Stripe.setPublishableKey(" + repr(p("pk", "_live_", fake(24))) + ")",
    "cli-prose": "Pass the --token flag or set --password-stdin; see --api-key docs.",
    "docker-uid": "docker run -u 1000:1000 -v $PWD:/app node:20 npm test",
    "cli-flags-that-are-not-secrets": "ssh -p 2222 deploy@host\nmysql -u root -p shop\n"
    "docker login -p $REGISTRY_PASSWORD ghcr.io\ngit config set core.editor vim\n"
    "the login page: -p selects the port\nX-Request-Id: 8f14e45f\nx-token header is required",
    "lexer-code": 'if token == "with":\n    token = Keyword\nelse:\n    token = Name\ntoken = -1\n',
    "names-as-values": 'AWS_SESSION_TOKEN = "AWS_SESSION_TOKEN"\n'
    '{"refresh_token": "refreshToken", "client_secret": "clientSecret"}\n'
    'client = Client(api_key="test-api-key")  # tests never see a real key',
    "js-fetch": "await fetch(url, { credentials: 'include', headers: { Accept: 'json' } })",
    "markdown-table": "| Name | Description |\n|---|---|\n| `token` | Your API token |\n"
    "| `password` | required |",
}


@pytest.mark.parametrize("text", list(NEGATIVES.values()), ids=list(NEGATIVES))
def test_ordinary_text_is_unchanged(text: str) -> None:
    """Hashes, ids, paths, code that names secrets without holding one, and prose survive."""
    assert redact(text) == Redaction(text, 0, ())


def test_negative_corpus_is_large() -> None:
    assert len(NEGATIVES) >= 15


# --- <private> blocks ------------------------------------------------------------------------


def test_private_block_is_removed() -> None:
    assert strip_private("a <private>secret</private> b") == f"a {PRIVATE_MARKER} b"


def test_several_multiline_private_blocks_case_insensitive() -> None:
    text = "keep 1\n<PRIVATE>\nline one\nline two\n</Private>\nkeep 2\n<private>x</private>\nkeep 3"
    assert strip_private(text) == f"keep 1\n{PRIVATE_MARKER}\nkeep 2\n{PRIVATE_MARKER}\nkeep 3"


def test_unclosed_private_drops_the_rest() -> None:
    """Fail closed: without a closing tag everything after the opening one is private."""
    assert strip_private("public <private>secret\nmore secret") == f"public {PRIVATE_MARKER}"


def test_nested_private_blocks_hide_everything_inside_the_outer_one() -> None:
    text = "a <private>x <private>y</private> z</private> b"
    assert strip_private(text) == f"a {PRIVATE_MARKER} b"


def test_stray_closing_tag_and_empty_tag_are_dropped() -> None:
    assert strip_private("a </private> b <private/> c") == "a  b  c"


def test_private_tag_with_attributes_and_spaces() -> None:
    assert strip_private('a < private reason="pii" >x</ private > b') == f"a {PRIVATE_MARKER} b"


def test_privateer_is_not_a_private_tag() -> None:
    text = "<privateer>ahoy</privateer>"
    assert strip_private(text) == text


def test_redact_strips_private_first_and_counts_blocks() -> None:
    result = redact("keep <private>my PIN is 1234</private> and <private>more</private>")
    assert result == Redaction(f"keep {PRIVATE_MARKER} and {PRIVATE_MARKER}", 2, ("private",))


# --- idempotence and robustness ------------------------------------------------------------


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_redact_is_idempotent_on_the_corpus(c: Case) -> None:
    once = redact(c.text)
    twice = redact(once.text)
    assert twice == Redaction(once.text, 0, ())


def test_markers_are_never_redacted_again() -> None:
    text = (
        "TOKEN=[REDACTED:token] password: [REDACTED:password] "
        '"api_key": "[REDACTED:api_key]" Authorization: Bearer [REDACTED:jwt] '
        "postgres://u:[REDACTED:url_password]@h/db [private]"
    )
    assert redact(text) == Redaction(text, 0, ())


def test_pathological_inputs_stay_fast() -> None:
    """No catastrophic backtracking: each adversarial 200 KB input is handled promptly."""
    import time

    inputs = [
        "a" * 200_000,
        "password=" * 20_000,
        "eyJ" * 60_000,
        RSA_BEGIN + "\n" + "A" * 200_000,
        "://" + "a" * 100_000 + ":" + "b" * 100_000,
        "<private>" * 20_000,
        "Authorization: " * 10_000,
        "key_" * 50_000 + "=1",
        "x=" + "\\" * 100_000,
    ]
    for text in inputs:
        start = time.perf_counter()
        redact(text)
        assert time.perf_counter() - start < 2.0, text[:40]


PLANTED = [c.secrets[0] for c in CASES if len(c.secrets[0]) >= 12]
FRAGMENTS = [
    "password",
    "PASSWORD",
    "token",
    "api_key",
    "KEY",
    "secret",
    "pwd",
    "auth",
    "=",
    ": ",
    ":",
    " = ",
    "'",
    '"',
    "\\",
    "\\n",
    "\n",
    " ",
    ";",
    "&",
    "?",
    ",",
    ")",
    "(",
    "--",
    "-",
    "://",
    "@",
    "user",
    "[REDACTED:token]",
    "[private]",
    "<private>",
    "</private>",
    "<private/>",
    "Authorization: ",
    "Bearer ",
    "Basic ",
    "Cookie: ",
    "export ",
    "a1b2c3d4e5f6",
    "hunter2",
    "x",
    "eyJ",
    ".",
    "sk-",
    "gh",
    "p_",
    "AKIA",
    RSA_BEGIN,
    RSA_END,
    "MIIEowIBAAKCAQEA1b2c3d4",
    "login",
    "machine",
    "<",
    "</password>",
    "<password>",
    "$",
    "{",
    "}",
    "#",
    "curl -u ",
    "Pwd=",
    "sig=",
    "sshpass -p ",
    "mysql -u root -p",
    "htpasswd -b f u ",
    "-passin pass:",
    "smbclient -U d\\u%",
    "the password is ",
    "use token ",
    " / ",
    "- name: DB_PASSWORD\n  value: ",
    '"keyName": "key1", "value": "',
    "Secret Access Key [None]: ",
    'variable "db_password" {\n  default = "',
    "$ cat ~/.pgpass\nh:5432:d:u:",
    "$ openssl rand -hex 16\n",
    fake(64, B64, "frag1") + "\n",
    fake(64, B64, "frag2") + "\\n",
    "-----END RSA PRIVATE KEY-----",
    "s." + fake(24, seed="vault-frag"),
    "abc123." + fake(16, string.ascii_lowercase + string.digits, "kubeadm-frag"),
    "\u2026",
    "...",
]


@settings(max_examples=300, deadline=None)
@given(
    before=st.text(max_size=200),
    after=st.text(max_size=200),
    secret=st.sampled_from(PLANTED),
    glue=st.sampled_from(
        ["", " ", "=", ": ", "\n", '"', "TOKEN=", "password: ", "--token ", "?key=", "Bearer "]
    ),
)
def test_property_never_raises_never_adds_secrets_and_is_idempotent(
    before: str, after: str, secret: str, glue: str
) -> None:
    text = before + glue + secret + " " + after
    once = redact(text)
    assert once.text.count(secret) <= text.count(secret)
    assert redact(once.text).text == once.text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=500))
def test_property_arbitrary_text(text: str) -> None:
    once = redact(text)
    assert isinstance(once.text, str)
    assert redact(once.text).text == once.text
    assert once.count >= len(once.kinds)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS + PLANTED), max_size=30).map("".join))
def test_property_structured_fragments_are_idempotent(text: str) -> None:
    """Texts built from the syntax the rules look for: redacting twice changes nothing more."""
    once = redact(text)
    assert redact(once.text) == Redaction(once.text, 0, ())


def test_a_long_run_of_capitals_after_a_cue_is_decided_at_once() -> None:
    """Found by the structured-fragments property in CI: a capital run before a lowercase letter
    made the CamelCase check backtrack exponentially (minutes on one word). Now linear."""
    import time

    for word in ("A" * 60 + "1a", "1" * 80 + "a", "Ab" * 50 + "A" * 40 + "1x"):
        started = time.perf_counter()
        redact(f"the password is {word} for staging")
        assert time.perf_counter() - started < 1.0, word[:20]
