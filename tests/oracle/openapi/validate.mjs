// Validates an OpenAPI document (JSON or YAML, by path) against the official
// OpenAPI 3.x JSON Schemas, its $refs resolved. Prints "valid" or the errors.
import { Validator } from "@seriousme/openapi-schema-validator";

const validator = new Validator();
const res = await validator.validate(process.argv[2]);
if (res.valid) {
  console.log("valid " + validator.version);
} else {
  console.log(JSON.stringify(res.errors, null, 2));
  process.exitCode = 1;
}
