/* global jest */
// Stack and browser tests start processes and wait for services.
jest.setTimeout(120_000);
