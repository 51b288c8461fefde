/**
 * The meter profiles a node can use: the built-in ones shipped in the package's profiles/ folder, plus
 * the user's own from the node's settings (same JSON shape). A user profile with a built-in id replaces it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileProfile, ProfileError, type MeterProfile } from '../core/meter/profile';

/** dist/nodes/meter/ -> the package root's profiles/. */
export const PROFILES_DIR = join(__dirname, '..', '..', '..', 'profiles');

let builtIn: Map<string, MeterProfile> | undefined;

export function builtInProfiles(): Map<string, MeterProfile> {
  if (builtIn) return builtIn;
  const profiles = new Map<string, MeterProfile>();
  for (const file of readdirSync(PROFILES_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort()) {
    const text = readFileSync(join(PROFILES_DIR, file), 'utf8');
    try {
      const profile = compileProfile(JSON.parse(text));
      profiles.set(profile.id, profile);
    } catch (error) {
      // A broken built-in profile is a packaging bug: fail loudly at load.
      throw new Error(`built-in profile ${file} is invalid: ${(error as Error).message}`);
    }
  }
  builtIn = profiles;
  return profiles;
}

/** Built-in profiles plus user profiles given as a JSON array (or a single object) of profile specs. */
export function profilesWith(userJson: string | undefined): Map<string, MeterProfile> {
  const profiles = new Map(builtInProfiles());
  const text = (userJson ?? '').trim();
  if (text === '' || text === '[]') return profiles;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ProfileError('profiles', `is not valid JSON: ${(error as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  list.forEach((spec, index) => {
    try {
      const profile = compileProfile(spec);
      profiles.set(profile.id, profile);
    } catch (error) {
      const field = error instanceof ProfileError ? error.field : 'profile';
      const id =
        typeof (spec as { id?: unknown })?.id === 'string' ? ` "${(spec as { id: string }).id}"` : '';
      throw new ProfileError(
        `profiles[${index}]${id}.${field}`,
        (error as ProfileError).message.replace(/^[^:]*: /, ''),
      );
    }
  });
  return profiles;
}
