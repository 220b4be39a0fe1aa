// A foreign Blossom client (blossom-client-sdk) against a Samizdat node: upload (BUD-02, with its BUD-06
// preflight), download (BUD-01), list and delete (BUD-12). Events are signed by the Python command given in
// SIGNER (the SDK leaves signing to the application). Prints one JSON object with what it saw.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { Actions, createUploadAuth, createListAuth, createDeleteAuth } from "blossom-client-sdk";

const [server, file, type] = process.argv.slice(2);
const [python, ...signerArgs] = JSON.parse(process.env.SIGNER);
const signer = async (draft) => JSON.parse(execFileSync(python, signerArgs, { input: JSON.stringify(draft) }));

const bytes = readFileSync(file);
const blob = new Blob([bytes], { type });
const result = {};
const descriptor = await Actions.uploadBlob(server, blob, {
  onAuth: (srv, sha256) => createUploadAuth(signer, sha256),
});
result.descriptor = descriptor;
const response = await Actions.downloadBlob(server, descriptor.sha256);
const back = Buffer.from(await response.arrayBuffer());
result.downloaded = createHash("sha256").update(back).digest("hex");
result.contentType = response.headers.get("content-type");
const pubkey = (await signer({ kind: 24242, content: "whoami", created_at: 0, tags: [] })).pubkey;
result.listed = (await Actions.listBlobs(server, pubkey, { auth: await createListAuth(signer) })).map((d) => d.sha256);
result.deleted = await Actions.deleteBlob(server, descriptor.sha256, {
  auth: await createDeleteAuth(signer, descriptor.sha256),
});
try {
  await Actions.downloadBlob(server, descriptor.sha256);
  result.afterDelete = "found";
} catch (error) {
  result.afterDelete = String(error.status ?? error.message);
}
console.log(JSON.stringify(result));
