// A certified OpenID Connect provider (npm oidc-provider) for the single sign-on browser test.
//
// Usage: node tests/oidc_provider.mjs PORT REDIRECT_URI
// The environment gives OIDC_CLIENT_SECRET and OIDC_ACCOUNTS, a JSON object of login name to
// claims. The development login page accepts any password for those names. It listens on
// 127.0.0.1 only and prints "ready" once it accepts connections.
import Provider from "oidc-provider";

const [port, redirectUri] = process.argv.slice(2);
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || "{}");
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: "tutela",
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
    },
  ],
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email", "email_verified"],
    groups: ["groups"],
  },
  scopes: ["openid", "profile", "email", "groups"],
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) {
      return undefined;
    }
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
});

provider.listen(Number(port), "127.0.0.1", () => {
  console.log("ready");
});
