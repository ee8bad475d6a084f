// The README's snippets, compiled against the packed package (`npm pack`) installed in a
// temporary directory and run against a real server: they work from anywhere, with the types
// and files the package ships and nothing from this repository.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ServerProcess } from '../fixtures/server.js';

const PACKAGE_DIR = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(path.join(PACKAGE_DIR, 'README.md'), 'utf8');
const snippets = [...README.matchAll(/```ts runnable\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

const server = new ServerProcess();
const home = mkdtempSync(path.join(os.tmpdir(), 'execstream-readme-'));
let tarball = '';

/** Install the packed tarball under home/node_modules, its dependencies linked from ours.
 * (`npm test` compiled dist/ already, so packing skips the prepack build.) */
function installPacked(): void {
  const name = execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination',
    home, PACKAGE_DIR], { encoding: 'utf8' }).trim().split('\n').at(-1) ?? '';
  tarball = path.join(home, name);
  const target = path.join(home, 'node_modules', 'execstream-client');
  mkdirSync(target, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
  for (const scope of ['@bufbuild', '@connectrpc', '@types']) {
    symlinkSync(path.join(PACKAGE_DIR, 'node_modules', scope), path.join(home, 'node_modules', scope));
  }
  writeFileSync(path.join(home, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(path.join(home, 'tsconfig.json'), JSON.stringify({ compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
    types: ['node'], skipLibCheck: false, outDir: 'out' }, include: ['*.ts'] }));
}

before(async () => {
  installPacked();
  await server.start();
});

after(async () => {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

test('the package carries its code, types, generated code, service config and licence', () => {
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
  for (const file of ['package/dist/src/index.js', 'package/dist/src/index.d.ts',
    'package/dist/src/gen/execstream/v1/service_pb.js', 'package/service_config.json',
    'package/LICENSE']) {
    assert.ok(files.includes(file), `${file} is packed`);
  }
  assert.ok(!files.includes('package/dist/test/'), 'tests are not packed');
});

test('the README has snippets to run', () => {
  assert.equal(snippets.length, 3);
});

test('every README snippet compiles strictly against the package and runs', { timeout: 120_000 }, () => {
  snippets.forEach((code, index) => writeFileSync(path.join(home, `snippet${index}.ts`), code));
  const tsc = path.join(PACKAGE_DIR, 'node_modules', '.bin', 'tsc');
  execFileSync(tsc, ['-p', home], { encoding: 'utf8' });
  const outputs = snippets.map((_, index) => execFileSync('node',
    [path.join(home, 'out', `snippet${index}.js`)],
    { cwd: home, encoding: 'utf8', env: { ...process.env, EXECSTREAM_TARGET: server.target } }));
  assert.match(outputs[0] ?? '', /committed 4 events up to revision 4/);
  assert.match(outputs[0] ?? '', /ts-demo SUCCEEDED \d+/);
  assert.match(outputs[1] ?? '', /1 tasks at revision 4/);
  assert.doesNotMatch(outputs[1] ?? '', /ts-demo/, 'nothing the snapshot holds is watched again');
  assert.match(outputs[1] ?? '', /5n? ts-next started/);
  assert.match(outputs[1] ?? '', /6n? ts-next finished/);
  assert.match(outputs[2] ?? '', /FAILED_PRECONDITION SEQ_GAP resend from seq 1/);
});
