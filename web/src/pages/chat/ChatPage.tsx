export function ChatPage() { return <p>chat</p>; }
