#!/usr/bin/env node
// Tiny CLI around jose, called by the Python interop tests.
//   node jose_cli.mjs decrypt <hexkey> <token>            -> JSON {protectedHeader, payload}
//   node jose_cli.mjs encrypt <hexkey> <kid> <json-claims> -> compact JWE (dir + A256GCM)
// On failure: the error message on stderr, exit code 1.
import { EncryptJWT, jwtDecrypt } from "jose";

function keyFromHex(hex) {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new Error("key must be 64 hex characters (32 bytes)");
  }
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

async function main(argv) {
  const [command, ...args] = argv;
  if (command === "decrypt" && args.length === 2) {
    const [hexkey, token] = args;
    const { protectedHeader, payload } = await jwtDecrypt(token, keyFromHex(hexkey), {
      clockTolerance: 5,
    });
    process.stdout.write(JSON.stringify({ protectedHeader, payload }) + "\n");
  } else if (command === "encrypt" && args.length === 3) {
    const [hexkey, kid, claimsJson] = args;
    const claims = JSON.parse(claimsJson);
    const token = await new EncryptJWT(claims)
      .setProtectedHeader({ alg: "dir", enc: "A256GCM", kid })
      .encrypt(keyFromHex(hexkey));
    process.stdout.write(token + "\n");
  } else {
    throw new Error(
      "usage: node jose_cli.mjs decrypt <hexkey> <token> | encrypt <hexkey> <kid> <json-claims>",
    );
  }
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${err?.code ? err.code + ": " : ""}${err?.message ?? err}\n`);
  process.exitCode = 1;
});
