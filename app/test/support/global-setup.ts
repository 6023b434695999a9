// The service tests run the built bundles the way the image does, so build them from the current sources first.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export default function globalSetup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: path.join(__dirname, '..', '..'), stdio: 'inherit' });
}
