// Environment for every test file: no real AWS, quiet Powertools.
process.env.AWS_REGION ??= "eu-west-2";
process.env.AWS_ACCESS_KEY_ID ??= "AKIDTESTTESTTESTTEST";
process.env.AWS_SECRET_ACCESS_KEY ??= "test-secret-key";
process.env.POWERTOOLS_LOG_LEVEL ??= "SILENT";
process.env.POWERTOOLS_DEV ??= "false";
// No test traces (Powertools' Tracer is off outside Lambda), but loading it puts the X-Ray SDK in
// automatic mode, whose async hook slows every promise; the CLI and local mode turn it off the same way.
process.env.AWS_XRAY_MANUAL_MODE ??= "true";
