// main.cpp: agentrelay's command line (see README.md, "Command line").
int main() { return 0; }
