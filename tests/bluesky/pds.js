// The reference atproto PDS (@atproto/pds) on loopback, beside an in-memory PLC directory
// (@did-plc/server), for the Bluesky tests. Creates one account and prints one JSON line:
// {"url", "handle", "password", "did"}; runs until stdin closes or SIGTERM.
// Installed by .ci/run: npm install --prefix .ci/node @atproto/pds @did-plc/server
'use strict'
const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')
const { PlcServer, Database } = require('@did-plc/server')
const pds = require('@atproto/pds')
const { Secp256k1Keypair } = require('@atproto/crypto')

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crisis-pds-'))
  const plc = PlcServer.create({ db: Database.mock(), port: 0 })
  const plcServer = await plc.start()
  const plcUrl = `http://127.0.0.1:${plcServer.address().port}`
  const rotation = await Secp256k1Keypair.create({ exportable: true })
  const hex = Buffer.from(await rotation.export()).toString('hex')
  const port = Number(process.env.PDS_PORT || 0) || await freePort()
  const env = {
    port,
    hostname: 'localhost',
    serviceHandleDomains: ['.test'],
    dataDirectory: dir,
    blobstoreDiskLocation: path.join(dir, 'blobs'),
    didPlcUrl: plcUrl,
    jwtSecret: crypto.randomBytes(16).toString('hex'),
    adminPassword: crypto.randomBytes(16).toString('hex'),
    plcRotationKeyK256PrivateKeyHex: hex,
    inviteRequired: false,
    devMode: true,
    disableSsrfProtection: true,
    bskyAppViewUrl: undefined,
    crawlers: []
  }
  const cfg = pds.envToCfg(env)
  const secrets = pds.envToSecrets(env)
  const server = await pds.PDS.create(cfg, secrets)
  await server.start()
  const url = `http://localhost:${port}`
  const handle = 'brand.test'
  const password = crypto.randomBytes(12).toString('hex')
  const res = await fetch(`${url}/xrpc/com.atproto.server.createAccount`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ handle, email: 'brand@example.test', password })
  })
  const account = await res.json()
  if (!res.ok) throw new Error(`createAccount: ${res.status} ${JSON.stringify(account)}`)
  process.stdout.write(JSON.stringify({ url, handle, password, did: account.did }) + '\n')
  const stop = async () => {
    await server.destroy()
    await plc.destroy()
    fs.rmSync(dir, { recursive: true, force: true })
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.stdin.on('end', stop)
  process.stdin.resume()
}

function freePort () {
  return new Promise((resolve, reject) => {
    const s = require('net').createServer()
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) })
    s.on('error', reject)
  })
}

main().catch((err) => { console.error(err); process.exit(1) })
