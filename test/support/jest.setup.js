// Tests log to a null sink unless asked; a failing test prints its own evidence.
process.env.LOG_LEVEL ??= 'error';
