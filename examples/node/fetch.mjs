#!/usr/bin/env node
// Fetches an artifact from an OCI registry with the first-party provider
// component, run in Node.js: the component is transpiled to JavaScript by
// jco and its WASI imports come from @bytecodealliance/preview2-shim, both
// installed into .tools/ by scripts/setup. The component is the same file
// the Rust host embeds; nothing in it is specific to Node.
//
//     node examples/node/fetch.mjs [--plain-http] [--max-size BYTES]
//         [--output DIR] [--username USER --password-env VAR]
//         [--component FILE] [--cache DIR] REFERENCE
//
// Prints one JSON object on stdout, the same shape as
// examples/python/fetch.py prints:
//
//     {"ok":true,"reference":...,"digest":...,"mediaType":...,
//      "artifactType":...,"size":...,"files":[{"path","size","sha256"}]}
//     {"ok":false,"error":"ArtifactNotFound","message":...}
//
// and exits 0 on success, 1 on failure, 2 on a usage error. Error names are
// the ones the artifact-store CLI prints, mapped from the WIT error cases.
//
// The transpiled JavaScript is a build output: it is written on first use
// to <cache>/<first 16 hex digits of the component's sha256>-jco<version>/,
// by default under target/jco/, and reused while the component and jco
// stay the same.
//
// What this host lacks, unlike the Rust one: there is no outbound
// allow-list (preview2-shim sends the component's requests to any host it
// names, redirects included), no memory cap and no call timeout. Run it
// only against registries you trust. It does check what it can: the
// manifest bytes hash to the digest reported, a pinned digest matches, and
// every file path is relative and given once before anything is written.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TOOLS = path.join(REPO_ROOT, '.tools', 'node_modules');
const DEFAULT_COMPONENT = path.join(
  REPO_ROOT, 'target', 'guest', 'wasm32-wasip2', 'release', 'artifact_store_provider.wasm');
const DEFAULT_CACHE = path.join(REPO_ROOT, 'target', 'jco');

/// The CLI's default operation limit, 1 GiB.
const DEFAULT_MAX_SIZE = 1n << 30n;

/// WIT error case to the name the artifact-store CLI prints.
const ERROR_NAMES = {
  'invalid-reference': 'InvalidReference',
  'store-not-reachable': 'FailedToConnectToArtifactStore',
  'unauthorized': 'Unauthorized',
  'forbidden': 'Forbidden',
  'not-found': 'ArtifactNotFound',
  'too-large': 'TooLargeArtifacts',
  'digest-mismatch': 'DigestMismatch',
  'invalid-manifest': 'InvalidManifest',
  'invalid-content': 'InvalidContent',
  'precondition-failed': 'PreconditionFailed',
  'timeout': 'Timeout',
  'denied': 'RequestDenied',
  'other': 'StoreError',
};

const USAGE = `usage: node examples/node/fetch.mjs [--plain-http] [--max-size BYTES]
    [--output DIR] [--username USER --password-env VAR]
    [--component FILE] [--cache DIR] REFERENCE`;

/// A failure with the CLI's name for it.
class Failure extends Error {
  constructor(name, message) {
    super(message);
    this.errorName = name;
  }
}

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'plain-http': { type: 'boolean', default: false },
      'max-size': { type: 'string' },
      'output': { type: 'string' },
      'username': { type: 'string' },
      'password-env': { type: 'string' },
      'component': { type: 'string', default: DEFAULT_COMPONENT },
      'cache': { type: 'string', default: DEFAULT_CACHE },
      'help': { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (positionals.length !== 1) {
    throw new TypeError('give exactly one REFERENCE');
  }
  if (values['max-size'] !== undefined && !/^[0-9]+$/.test(values['max-size'])) {
    throw new TypeError(`--max-size takes a number of bytes, not "${values['max-size']}"`);
  }
  if ((values.username === undefined) !== (values['password-env'] === undefined)) {
    throw new TypeError('--username and --password-env go together');
  }
  return { ...values, reference: positionals[0] };
}

/// Loads a package from .tools/node_modules, where scripts/setup puts it.
async function importTool(name) {
  let resolved;
  try {
    resolved = createRequire(path.join(TOOLS, 'noop.js')).resolve(name);
  } catch {
    throw new Failure('ProviderFailed', `${name} is not in ${TOOLS}; run scripts/setup`);
  }
  return import(pathToFileURL(resolved).href);
}

/// The folder holding the component transpiled by jco, made on first use.
/// A transpile goes to a fresh folder that is renamed into place, so
/// concurrent runs never see half of one.
async function transpiled(wasm, cacheRoot) {
  // jco exports no package.json, so it is read from where setup put it.
  let version;
  try {
    const manifest = path.join(TOOLS, '@bytecodealliance', 'jco', 'package.json');
    ({ version } = JSON.parse(fs.readFileSync(manifest, 'utf8')));
  } catch {
    throw new Failure('ProviderFailed', `@bytecodealliance/jco is not in ${TOOLS}; run scripts/setup`);
  }
  const hash = createHash('sha256').update(wasm).digest('hex').slice(0, 16);
  const key = `${hash}-jco${version}`;
  const dir = path.join(cacheRoot, key);
  if (fs.existsSync(path.join(dir, 'provider.js'))) {
    return dir;
  }

  const jco = await importTool('@bytecodealliance/jco');
  const { files } = await jco.transpile(wasm, {
    name: 'provider',
    // Imports are passed to instantiate() rather than imported by the
    // generated module, so it needs no node_modules beside it.
    instantiation: 'async',
    noTypescript: true,
    quiet: true,
  });
  fs.mkdirSync(cacheRoot, { recursive: true });
  const staging = fs.mkdtempSync(path.join(cacheRoot, `.${key}-`));
  for (const [name, bytes] of Object.entries(files)) {
    if (!name.endsWith('.d.ts')) {
      fs.writeFileSync(path.join(staging, name), bytes);
    }
  }
  try {
    fs.renameSync(staging, dir);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    // Another run got there first.
    if (!fs.existsSync(path.join(dir, 'provider.js'))) {
      throw err;
    }
  }
  return dir;
}

/// The WASI 0.2 imports from preview2-shim, keyed as the transpiled
/// component asks for them (`wasi:http/outgoing-handler`).
async function wasiImports() {
  const shim = await importTool('@bytecodealliance/preview2-shim');
  const imports = {};
  for (const [pkg, interfaces] of Object.entries(shim)) {
    for (const [name, implementation] of Object.entries(interfaces)) {
      const kebab = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      imports[`wasi:${pkg}/${kebab}`] = implementation;
    }
  }
  // The shim would hand the component this process's environment (the
  // password variable included), arguments and working folder; like the
  // Rust host, give it none.
  imports['wasi:cli/environment'] = {
    getEnvironment: () => [],
    getArguments: () => [],
    initialCwd: () => undefined,
  };
  return imports;
}

async function instantiate(componentPath, cacheRoot) {
  let wasm;
  try {
    wasm = fs.readFileSync(componentPath);
  } catch (err) {
    throw new Failure('ProviderFailed', `cannot read the component ${componentPath}: ${err.message}; ` +
      'cargo build builds it');
  }
  const dir = await transpiled(wasm, cacheRoot);
  const { instantiate } = await import(pathToFileURL(path.join(dir, 'provider.js')).href);
  const instance = await instantiate(
    (name) => WebAssembly.compile(fs.readFileSync(path.join(dir, name))),
    await wasiImports(),
  );
  return instance.provider;
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/// What the Rust host checks too, as far as it applies to a registry.
function verify(reference, artifact) {
  const { manifest } = artifact;
  if (artifact.manifestBytes.length > 0 && `sha256:${sha256(artifact.manifestBytes)}` !== manifest.digest) {
    throw new Failure('DigestMismatch', `the manifest bytes do not hash to ${manifest.digest}`);
  }
  const at = reference.lastIndexOf('@');
  if (at >= 0 && reference.slice(at + 1) !== manifest.digest) {
    throw new Failure('DigestMismatch',
      `${reference} is pinned to ${reference.slice(at + 1)} but the manifest is ${manifest.digest}`);
  }
  const seen = new Set();
  for (const { path: name } of artifact.files) {
    const parts = name.split('/');
    const odd = parts.some((p) => p === '' || p === '.' || p === '..') ||
      name.includes('\\') || /[\u0000-\u001f\u007f]/.test(name) || seen.has(name);
    if (odd) {
      throw new Failure('ProviderFailed', `the component returned the file path ${JSON.stringify(name)}, ` +
        'which is not a plain relative path given once');
    }
    seen.add(name);
  }
  // A path may not be a file and, for another path, a folder.
  const folders = new Set();
  for (const name of seen) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join('/'));
  }
  for (const name of seen) {
    if (folders.has(name)) {
      throw new Failure('ProviderFailed',
        `the component returned ${JSON.stringify(name)} both as a file and as a folder`);
    }
  }
}

/// Writes the files into `out`, which must be missing or empty, through a
/// folder beside it that is renamed into place at the end.
function writeFiles(out, files) {
  try {
    if (fs.existsSync(out) && fs.readdirSync(out).length > 0) {
      throw new Failure('OutputError', `${out} is not empty; choose an empty or new folder`);
    }
    const parent = path.dirname(path.resolve(out));
    fs.mkdirSync(parent, { recursive: true });
    const staging = fs.mkdtempSync(path.join(parent, `.${path.basename(out)}.partial-`));
    try {
      for (const file of files) {
        const target = path.join(staging, ...file.path.split('/'));
        fs.mkdirSync(path.dirname(target), { recursive: true });
        fs.writeFileSync(target, file.content, { flag: 'wx' });
      }
      if (fs.existsSync(out)) {
        fs.rmdirSync(out);
      }
      fs.renameSync(staging, out);
    } catch (err) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw err;
    }
  } catch (err) {
    if (err instanceof Failure) {
      throw err;
    }
    throw new Failure('OutputError', `cannot write ${out}: ${err.message}`);
  }
}

async function fetchArtifact(options) {
  let credentials = { tag: 'anonymous' };
  if (options.username !== undefined) {
    const password = process.env[options['password-env']];
    if (password === undefined) {
      throw new Failure('InvalidConfiguration', `the variable ${options['password-env']} is not set`);
    }
    credentials = { tag: 'basic', val: { username: options.username, password } };
  }
  const provider = await instantiate(options.component, options.cache);

  let artifact;
  try {
    artifact = provider.fetch({
      reference: options.reference,
      access: { plainHttp: options['plain-http'], credentials, blob: undefined },
      maxSize: options['max-size'] === undefined ? DEFAULT_MAX_SIZE : BigInt(options['max-size']),
      ifMatch: undefined,
    });
  } catch (err) {
    // jco throws a result's error value as a ComponentError carrying it.
    const payload = err?.payload;
    if (payload && typeof payload.tag === 'string' && payload.tag in ERROR_NAMES) {
      throw new Failure(ERROR_NAMES[payload.tag], payload.val);
    }
    throw new Failure('ProviderFailed', `the component failed: ${err?.message ?? err}`);
  }

  verify(options.reference, artifact);
  if (options.output !== undefined) {
    writeFiles(options.output, artifact.files);
  }
  return {
    ok: true,
    reference: options.reference,
    digest: artifact.manifest.digest,
    mediaType: artifact.manifest.mediaType,
    artifactType: artifact.manifest.artifactType ?? null,
    size: artifact.files.reduce((sum, f) => sum + f.content.length, 0),
    files: artifact.files.map((f) => ({ path: f.path, size: f.content.length, sha256: sha256(f.content) })),
  };
}

let options;
try {
  options = parse(process.argv.slice(2));
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}

try {
  console.log(JSON.stringify(await fetchArtifact(options)));
  process.exit(0);
} catch (err) {
  const name = err instanceof Failure ? err.errorName : 'ProviderFailed';
  console.log(JSON.stringify({ ok: false, error: name, message: err.message }));
  console.error(`${name}: ${err.message}`);
  process.exit(1);
}
