// What a user or group name may be: safe in file names, certificate subjects, logs and
// OpenVPN's username field.
import { PosternError } from '../../errors.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export function checkUserName(name: string): string {
  if (!NAME.test(name)) {
    throw new PosternError(
      'BAD_USER_NAME',
      `"${name}" is not a valid user name`,
      'use 1-64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit',
    );
  }
  return name;
}
